"""Application keys owned by nlu: the shared embedder and the NLU engine."""

from __future__ import annotations

from aiohttp import web

from nlu.embedding import Embedder

EMBEDDER = web.AppKey("embedder", Embedder)
