"""Application keys owned by kb."""

from __future__ import annotations

from aiohttp import web

from kb.service import KnowledgeBase

KNOWLEDGE_BASE = web.AppKey("knowledge_base", KnowledgeBase)
