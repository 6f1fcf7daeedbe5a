"""Application keys owned by nlu: the shared embedder and the NLU engine."""

from __future__ import annotations

from aiohttp import web

from nlu.embedding import Embedder
from nlu.engines import NluEngine

EMBEDDER = web.AppKey("embedder", Embedder)
NLU_ENGINE = web.AppKey("nlu_engine", NluEngine)
