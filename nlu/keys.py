"""Application keys owned by nlu: the shared embedder and the NLU engine (typed, not imported at run time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from nlu.embedding import Embedder
    from nlu.engines import NluEngine

EMBEDDER: web.AppKey[Embedder] = web.AppKey("embedder")
NLU_ENGINE: web.AppKey[NluEngine] = web.AppKey("nlu_engine")
