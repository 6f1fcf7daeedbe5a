"""Application keys owned by kb (typed, not imported at run time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from kb.service import KnowledgeBase

KNOWLEDGE_BASE: web.AppKey[KnowledgeBase] = web.AppKey("knowledge_base")
