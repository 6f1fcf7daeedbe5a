"""Wiring: the help center and the portal as sub-apps, robots and sitemap, the start-up context.

``register(app)`` mounts ``/help`` (help center and catalog) and ``/portal`` (the customer portal), each with
its error pages; ``portal_ctx`` loads the catalog (refusing a bad ``data/catalog.yml`` or plan text at
start-up) and the published articles, resyncs those every minute and prunes spent links and form tokens hourly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from core.db import transaction
from core.periodic import PeriodicTask
from core.web.keys import BUS, PORTAL_DENIED, SESSIONS, SETTINGS, TEMPLATES
from core.web.routes import Access, Routes
from portal import account_pages, catalog_pages, crawlers, forms, help_pages, links
from portal.catalog import Catalog
from portal.helpcenter import Library
from portal.keys import LIBRARY, SITE
from portal.site import Site, negotiated_language, page_errors

__all__ = ["PAGES_DIR", "portal_ctx", "register"]

PAGES_DIR = Path(__file__).parent / "pages"
PRUNE_SECONDS = 3600.0
RESYNC_SECONDS = 60.0
WIDGET_PATH = "/widget.js"

entry = Routes("help")


@entry.get("/help", access=Access.PUBLIC, html=True)
async def help_entry(request: web.Request) -> web.StreamResponse:
    """The help center in the reader's language (from Accept-Language)."""
    raise web.HTTPFound(f"/help/{negotiated_language(request)}/", headers={"Vary": "Accept-Language"})


@entry.get("/portal", access=Access.PUBLIC, html=True)
async def portal_entry(request: web.Request) -> web.StreamResponse:
    """The customer portal."""
    raise web.HTTPFound("/portal/")


def register(app: web.Application) -> None:
    """Mount the help center, the catalog and the portal on the root application."""
    entry.register(app)  # before the sub-apps: "/help" and "/portal" themselves are not theirs
    crawlers.routes.register(app)
    help_app = web.Application(middlewares=[page_errors])
    catalog_pages.routes.register(help_app)  # before the articles: /help/<lang>/plans is not an article
    help_pages.routes.register(help_app)
    app.add_subapp("/help", help_app)
    portal_app = web.Application(middlewares=[page_errors])
    account_pages.routes.register(portal_app)
    app.add_subapp("/portal", portal_app)
    app[PORTAL_DENIED] = account_pages.portal_denied


def _serves(app: web.Application, path: str) -> bool:
    return any(getattr(resource, "canonical", None) == path for resource in app.router.resources())


async def portal_ctx(app: web.Application) -> AsyncIterator[None]:
    """The catalog, the published articles and the site's settings (a root-app cleanup context)."""
    settings = app[SETTINGS]
    library = Library(app[SESSIONS], app[BUS])
    await library.start()
    app[LIBRARY] = library
    catalog = await asyncio.to_thread(Catalog.load, settings.data_dir, app[TEMPLATES])
    username = settings.telegram_bot_username.lstrip("@")
    widget = settings.help_widget_site if settings.help_widget_site and _serves(app, WIDGET_PATH) else None
    app[SITE] = Site(catalog=catalog, telegram_url=f"https://t.me/{username}" if username else None, widget_site=widget)

    async def prune() -> bool:
        async with transaction(app[SESSIONS]) as session:
            await links.prune(session)
            await forms.prune_spent(session)
        return False

    async def resync() -> bool:
        await library.resync()
        return False

    # Events keep the articles current at once; the resync catches what a missed event would leave behind.
    tasks = [
        PeriodicTask("portal-resync", resync, RESYNC_SECONDS, initial_delay=RESYNC_SECONDS),
        PeriodicTask("portal-prune", prune, PRUNE_SECONDS, initial_delay=60.0),
    ]
    for task in tasks:
        task.start()
    yield
    for task in tasks:
        await task.stop()
