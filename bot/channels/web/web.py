"""Wiring of the web channel: its start-up context, ``/ws/chat``, ``/widget.js`` and the ``/demo`` host page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from bot.channels.web.channel import WebChannel, WebMetrics
from bot.channels.web.keys import WEBCHAT, WEBCHAT_SITES
from bot.channels.web.poll import chat_poll
from bot.channels.web.sites import Sites
from bot.channels.web.socket import chat_socket
from bot.keys import CONVERSATION_ENGINE, DELIVERERS
from core.events import CONVERSATION_TYPING
from core.models import Channel
from core.web.keys import BUS, METRICS, SESSIONS, SETTINGS
from core.web.pages import render_page
from core.web.routes import Access, Routes

__all__ = ["PAGES_DIR", "WIDGET_PATH", "register", "webchat_ctx"]

PAGES_DIR = Path(__file__).parent / "pages"
WIDGET_PATH = "/widget.js"
WIDGET_FILE = "widget.js"
DEMO_SITE = "demo"

routes = Routes("webchat")


async def webchat_ctx(app: web.Application) -> AsyncIterator[None]:
    """The channel, registered as the outbox's deliverer for web replies (before the outbox starts)."""
    # With a bus shared between workers the channel also sends replies claimed by other workers' outboxes.
    channel = WebChannel(app[CONVERSATION_ENGINE], app[SESSIONS], WebMetrics(app[METRICS]), app[BUS])
    app[BUS].subscribe(channel.on_typing, CONVERSATION_TYPING)
    app[WEBCHAT] = channel
    app[DELIVERERS][Channel.WEB] = channel
    yield
    for sockets in list(channel.visitors.values()):
        for visitor in list(sockets):
            await visitor.ws.close(code=1001, message=b"server shutdown")
    await channel.drain()


@routes.get("/ws/chat", access=Access.PUBLIC)
async def ws_chat(request: web.Request) -> web.StreamResponse:
    """The web-chat widget's WebSocket (``?site=<key>``; the page's Origin must be allowed for the site)."""
    return await chat_socket(request)


@routes.post("/ws/chat/poll", access=Access.PUBLIC)
async def ws_chat_poll(request: web.Request) -> web.StreamResponse:
    """The widget's long-poll fallback (``?site=<key>``): the socket's frames in a POST body, answers within 25 s."""
    return await chat_poll(request)


@routes.get(WIDGET_PATH, access=Access.PUBLIC)
async def widget_js(request: web.Request) -> web.StreamResponse:
    """The web-chat widget for a customer's site: one script tag, no framework."""
    path = request.config_dict[SETTINGS].static_dir / WIDGET_FILE
    if not path.is_file():
        raise web.HTTPNotFound(text="the widget is not built; run `make frontend`")
    # Short cache: the tag on customers' sites has no version in its URL, so a new build must reach them.
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"})


@routes.get("/demo", access=Access.PUBLIC, html=True)
async def demo_page(request: web.Request) -> web.StreamResponse:
    """A plain company page that embeds the widget exactly as a customer's site would."""
    return render_page(request, "webchat_demo.html", site=DEMO_SITE, widget=WIDGET_PATH)


def register(app: web.Application) -> None:
    app[WEBCHAT_SITES] = Sites.load(app[SETTINGS].data_dir)
    routes.register(app)
