"""Application keys owned by portal (typed, not imported at run time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from portal.helpcenter import Library
    from portal.site import Site

SITE: web.AppKey[Site] = web.AppKey("portal_site")
LIBRARY: web.AppKey[Library] = web.AppKey("portal_library")
PAGE_LANGUAGE = web.RequestKey("portal_page_language", str)
