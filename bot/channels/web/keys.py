"""Application keys of the web channel (typed, not imported at run time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.channels.web.channel import WebChannel
    from bot.channels.web.sites import Sites

WEBCHAT: web.AppKey[WebChannel] = web.AppKey("webchat")
WEBCHAT_SITES: web.AppKey[Sites] = web.AppKey("webchat_sites")
