"""``/ws/chat``: the widget's WebSocket. The site and its ``Origin`` are checked before the upgrade.

Every frame is checked before it acts: size (over ``MAX_FRAME`` closes the socket with 1009 and a reason),
JSON, a known type and shape (a clear ``error`` frame otherwise, and the socket stays open), ``hello``
first, and the visitor's rate (``rate_limited`` with the wait; the frame is not acted on, so a widget
resends it later under the same client id and it is stored once).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import ValidationError

from bot.channels.web import visitors
from bot.channels.web.channel import Sink, Visitor, WebChannel
from bot.channels.web.frames import CLIENT_FRAME, FRAME_TYPES, Ack, Hello, Ping, Press, Say, Suggest, Typing, error
from bot.channels.web.keys import WEBCHAT, WEBCHAT_SITES
from bot.channels.web.sites import WebSite
from core.web.errors import error_response
from core.web.keys import SESSIONS, SETTINGS
from kb.keys import KNOWLEDGE_BASE

log = logging.getLogger(__name__)

MAX_FRAME = 16 * 1024  # bytes of one frame: a message is at most 4,000 characters
HELLO_TIMEOUT = 10.0
HEARTBEAT = 25.0  # seconds between pings: proxies and phones drop idle sockets without them


def own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def checked_site(request: web.Request) -> tuple[str, WebSite] | web.Response:
    """The site named by ``?site=``, when this page's Origin may use it; else the refusal to answer with."""
    site_key = request.query.get("site", "")
    site = request.config_dict[WEBCHAT_SITES].get(site_key)
    channel = request.config_dict[WEBCHAT]
    if site is None:
        channel.metrics.rejected.labels("unknown_site").inc()
        return error_response(404, "unknown_site", "no web-chat site with this key")
    if not site.allows(request.headers.get("Origin"), own_origin(request)):
        channel.metrics.rejected.labels("origin").inc()
        return error_response(403, "origin_not_allowed", "this page's origin may not embed the chat")
    return site_key, site


async def chat_socket(request: web.Request) -> web.StreamResponse:
    """The widget's WebSocket (``?site=<key>``); the page's Origin must be on the site's list."""
    checked = checked_site(request)
    if isinstance(checked, web.Response):
        return checked
    site_key, site = checked
    channel = request.config_dict[WEBCHAT]
    # Frames over MAX_FRAME are refused by us with a reason; over this, aiohttp closes with 1009 itself.
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MAX_FRAME * 16)
    await ws.prepare(request)
    session = Session(request, ws, channel, site_key, site)
    try:
        await session.run(ws)
    finally:
        if session.visitor is not None:
            channel.leave(session.visitor)
    return ws


class Session:
    """One socket's conversation with the server: the hello, then frames until it closes."""

    def __init__(self, request: web.Request, ws: Sink, channel: WebChannel, site_key: str, site: WebSite) -> None:
        self.request = request
        self.ws = ws
        self.channel = channel
        self.site_key = site_key
        self.site = site
        self.visitor: Visitor | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_json(frame)
            self.channel.metrics.frames_out.labels(str(frame.get("type"))).inc()

    async def reject(self, reason: str, detail: str, **extra: Any) -> None:
        self.channel.metrics.rejected.labels(reason).inc()
        await self.send(error(reason, detail, **extra))

    async def run(self, ws: web.WebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is WSMsgType.BINARY:
                await self.reject("binary", "frames are JSON text")
                continue
            if msg.type is not WSMsgType.TEXT:
                continue
            if len(msg.data.encode()) > MAX_FRAME:
                self.channel.metrics.rejected.labels("too_large").inc()
                await ws.close(code=WSCloseCode.MESSAGE_TOO_BIG, message=f"frame over {MAX_FRAME} bytes".encode())
                return
            await self.frame(msg.data)

    async def frame(self, data: str) -> None:
        try:
            raw = json.loads(data)
        except ValueError:
            await self.reject("not_json", "a frame is one JSON object")
            return
        kind = raw.get("type") if isinstance(raw, dict) else None
        if kind not in FRAME_TYPES:
            await self.reject("unknown_type", f"unknown frame type; known: {', '.join(FRAME_TYPES)}")
            return
        try:
            frame = CLIENT_FRAME.validate_python(raw)
        except ValidationError as exc:
            fields = [".".join(str(p) for p in e["loc"][1:]) for e in exc.errors()]
            await self.reject("invalid_frame", f"the {kind} frame is not valid", fields=fields, cid=raw.get("cid"))
            return
        self.channel.metrics.frames_in.labels(kind).inc()
        if isinstance(frame, Hello):
            await self.hello(frame)
            return
        if self.visitor is None:
            await self.reject("hello_first", "send a hello frame first")
            return
        wait = self.channel.limit(self.visitor.vid, isinstance(frame, (Say, Press)))
        if wait:
            retry = max(0.1, round(wait, 1))
            await self.reject("rate_limited", "too many frames; slow down", retry_after=retry, cid=raw.get("cid"))
            return
        if isinstance(frame, (Say, Press)):
            await self.channel.accept(self.visitor, frame)
        elif isinstance(frame, Ack):
            await self.channel.acknowledge(self.visitor, frame.conversation, frame.seqs)
        elif isinstance(frame, Ping):
            await self.send({"type": "pong"})
        elif isinstance(frame, Typing):
            await self.channel.customer_typing(self.visitor, frame.on)
        elif isinstance(frame, Suggest):
            await self.suggest(frame.q)

    async def hello(self, hello: Hello) -> None:
        if self.visitor is not None:
            await self.reject("hello_again", "this socket has already said hello")
            return
        settings = self.request.config_dict[SETTINGS]
        resolved = await visitors.resolve(
            self.request.config_dict[SESSIONS], settings.secret, self.site_key, self.site, hello
        )
        if resolved.refused is not None:
            await self.reject(resolved.refused, "the visitor token or the signed user id was refused")
        language = hello.lang or self.site.language
        name = hello.user.name if hello.user is not None and resolved.refused is None else ""
        self.visitor = Visitor(self.ws, self.site_key, resolved.vid, language, name)
        if hello.token and resolved.refused != "bad_token":
            self.channel.metrics.reconnects.inc()
        self.channel.join(self.visitor)
        await self.send({"type": "welcome", "token": resolved.token, "lang": language, "site": self.site.name})
        caught_up = await self.channel.catch_up(self.visitor, hello.conversation, hello.seq)
        if caught_up and hello.seq:
            self.channel.metrics.resumes.inc()

    async def suggest(self, query: str) -> None:
        """Articles for what the visitor is typing (previews: not counted as views until opened)."""
        assert self.visitor is not None
        kb = self.request.config_dict.get(KNOWLEDGE_BASE)
        hits = await kb.search(query, self.visitor.language, k=3, count_view=False) if kb and query.strip() else []
        articles = [
            {"title": h.title, "url": f"/help/{h.language}/{h.slug}"} for h in hits if h.band.value != "unknown"
        ]
        await self.send({"type": "suggestions", "q": query, "articles": articles})
