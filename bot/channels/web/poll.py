"""Long-poll fallback for networks that block WebSocket: the same frames, in HTTP POST bodies.

A poll carries the widget's ``hello`` (token, conversation, last number) and whatever it has to send
(queued messages, acks); the answer carries the frames for it — the catch-up at once, else whatever comes
within ``POLL_WAIT`` seconds. While a poll waits, the visitor counts as connected, so the outbox delivers to
it; a reply that arrives between two polls is sent by the next poll's catch-up (it stays unacknowledged
until then). Every frame goes through the same checks as on the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

from bot.channels.web.keys import WEBCHAT
from bot.channels.web.socket import MAX_FRAME, Session, checked_site
from core.web.errors import error_response

POLL_WAIT = 25.0  # under the 30-60 s after which proxies commonly cut an idle request
MAX_FRAMES = 50
ANSWERED = frozenset({"message", "suggestions", "error"})  # frames worth answering at once for


class Mailbox:
    """A long-poll request's end of the channel: frames collect here until the answer is sent."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def send_json(self, data: Any) -> None:
        self.frames.append(data)
        self.arrived.set()

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self._closed = True
        self.arrived.set()
        return True


async def chat_poll(request: web.Request) -> web.StreamResponse:
    checked = checked_site(request)
    if isinstance(checked, web.Response):
        return checked
    site_key, site = checked
    raw = await request.read()
    if len(raw) > MAX_FRAME * 4:
        return error_response(413, "too_large", f"a poll body is at most {MAX_FRAME * 4} bytes")
    try:
        body = json.loads(raw)
    except ValueError:
        return error_response(422, "not_json", "the body is one JSON object: {frames: [...], wait: bool}")
    frames = body.get("frames") if isinstance(body, dict) else None
    if not isinstance(frames, list) or not 0 < len(frames) <= MAX_FRAMES:
        return error_response(422, "invalid_poll", f"frames: a list of 1 to {MAX_FRAMES} frames, hello first")
    channel = request.config_dict[WEBCHAT]
    box = Mailbox()
    session = Session(request, box, channel, site_key, site)
    try:
        for frame in frames:
            await session.frame(json.dumps(frame))
        if session.visitor is not None and body.get("wait") and not any(f["type"] in ANSWERED for f in box.frames):
            box.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(box.arrived.wait(), POLL_WAIT)
            await asyncio.sleep(0.05)  # a reply rarely comes alone: let its siblings join the answer
    finally:
        box._closed = True
        if session.visitor is not None:
            channel.leave(session.visitor)
    return web.json_response({"frames": box.frames})
