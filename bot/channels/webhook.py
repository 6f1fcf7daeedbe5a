"""Telegram webhook: aiogram's request handler, answering only after the update's message is stored."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.channels.telegram import MAX_FEED_ATTEMPTS, RejectedUpdateError
from core.web.errors import error_response

if TYPE_CHECKING:
    from bot.channels.telegram import TelegramChannel

log = logging.getLogger(__name__)


class StoringRequestHandler(SimpleRequestHandler):
    """``handle_in_background=False``: Telegram gets 200 once the message is stored, so it retries on failure.

    A request whose secret is wrong gets 401 (aiogram's own check); a body that is not JSON at all gets a
    clear 400. A JSON update that cannot be stored (not an update, numbers beyond 64 bits, or a store
    failure that repeats) is recorded in ``rejected_updates`` and acknowledged with 200, so Telegram does not
    hold the next customer's update behind it; lone surrogates and NULs are cleaned before storing.
    """

    def __init__(self, *args: Any, channel: TelegramChannel, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel = channel
        self._failures: dict[str, int] = {}

    async def handle(self, request: web.Request) -> web.Response:
        if not self.verify_secret(request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), self.bot):
            return web.Response(body="Unauthorized", status=401)
        try:
            raw = json.loads(await request.read())
        except (ValueError, RecursionError) as exc:
            log.warning("refused a webhook body that is not JSON", extra={"reason": type(exc).__name__})
            return error_response(400, "malformed_update", "the body is not a Telegram update")
        try:
            await self.channel.feed(raw)
        except RejectedUpdateError as exc:
            await self.channel.reject(raw, str(exc))
        except Exception as exc:
            key = str(raw.get("update_id") if isinstance(raw, dict) else None)
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            if failures < MAX_FEED_ATTEMPTS:
                raise  # 500: Telegram sends it again
            await self.channel.reject(raw, f"could not be stored after {failures} attempts: {exc!r}")
            self._failures.pop(key, None)
        return web.json_response({})
