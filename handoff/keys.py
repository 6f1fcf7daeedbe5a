"""Application keys owned by handoff (typed, not imported at run time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from handoff.live import LiveHub

LIVE_HUB: web.AppKey[LiveHub] = web.AppKey("live_hub")
