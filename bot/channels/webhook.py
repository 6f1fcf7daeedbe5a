"""Telegram webhook: aiogram's request handler, answering only after the update's message is stored."""

from __future__ import annotations

import logging

from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError

from core.web.errors import error_response

log = logging.getLogger(__name__)


class StoringRequestHandler(SimpleRequestHandler):
    """``handle_in_background=False``: Telegram gets 200 once the message is stored, so it retries on failure.

    A request whose secret is wrong gets 401 (aiogram's own check); a body that is not a Telegram update
    gets a clear 400 instead of an exception.
    """

    async def handle(self, request: web.Request) -> web.Response:
        if not self.verify_secret(request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), self.bot):
            return web.Response(body="Unauthorized", status=401)
        try:
            raw = await request.json()
            update = Update.model_validate(raw, context={"bot": self.bot})
        except (ValueError, ValidationError) as exc:
            log.warning("rejected a malformed webhook update", extra={"reason": str(exc)[:300]})
            return error_response(400, "malformed_update", "the body is not a Telegram update")
        await self.dispatcher.feed_update(self.bot, update)
        return web.json_response({})
