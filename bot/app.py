"""The composition root: one aiohttp application that mounts every package's routes and workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from bot import runtime
from bot.channels.web import web as webchat
from bot.keys import DELIVERERS, DELIVERY
from core.db import create_engine, session_factory
from core.events import create_bus
from core.models import Channel
from core.outbox import DeliveryWorker
from core.settings import Settings
from core.templates import Templates
from core.web import auth, system
from core.web.errors import error_middleware
from core.web.headers import security_headers_middleware
from core.web.keys import ASSETS, BUS, DB_ENGINE, HEADER_POLICIES, METRICS, NAV, PAGES, SESSIONS, SETTINGS, TEMPLATES
from core.web.metrics import Metrics, metrics_middleware
from core.web.pages import Assets, create_pages
from handoff import inbox_pages
from handoff import web as handoff_web
from kb import editors as kb_pages
from kb import web as kb_web
from nlu.embedding import shared_embedder
from nlu.engines import nlu_engine_ctx
from nlu.keys import EMBEDDER
from notices import pages as notices_pages
from notices.runtime import notices_ctx
from portal import web as portal_web
from records import pages as records_pages
from reports import gauges as reports_gauges
from reports import web as reports_web
from tickets import web as tickets_web

MAX_BODY = 2 * 1024 * 1024


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[SETTINGS].database_url)
    app[DB_ENGINE] = engine
    app[SESSIONS] = session_factory(engine)
    yield
    await engine.dispose()


async def bus_ctx(app: web.Application) -> AsyncIterator[None]:
    bus = create_bus(app[SETTINGS].redis_url)
    app[BUS] = bus
    await bus.start()
    yield
    await bus.stop()


async def embedder_ctx(app: web.Application) -> AsyncIterator[None]:
    """One embedder for the whole process: the knowledge base, NLU and incident matching share it."""
    settings = app[SETTINGS]
    app[EMBEDDER] = await asyncio.to_thread(shared_embedder, settings.embedding_model, settings.embedding_threads)
    yield


async def delivery_ctx(app: web.Application) -> AsyncIterator[None]:
    """The outbox worker; channels have registered their deliverers in earlier contexts."""
    limits = {Channel.TELEGRAM: app[SETTINGS].telegram_rate_limit}
    worker = DeliveryWorker(app[SESSIONS], app[BUS], app[DELIVERERS], limits=limits, phases=app[METRICS].turn_phases)
    app[DELIVERY] = worker
    await worker.start()
    worker.wake()  # replies left pending by a previous run go out now
    yield
    await worker.stop()


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings()
    metrics = Metrics()
    app = web.Application(
        middlewares=[
            metrics_middleware(metrics),
            security_headers_middleware,
            error_middleware,
            auth.session_setup(settings.secret, settings.session_max_age, settings.cookies_secure),
            auth.access_middleware,
        ],
        client_max_size=MAX_BODY,
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[TEMPLATES] = Templates.load(settings.data_dir / "templates", settings.default_language)
    app[PAGES] = create_pages(
        portal_web.PAGES_DIR,
        webchat.PAGES_DIR,
        kb_pages.PAGES_DIR,
        reports_web.PAGES_DIR,
        inbox_pages.PAGES_DIR,
        records_pages.PAGES_DIR,
        notices_pages.PAGES_DIR,
    )
    app[ASSETS] = Assets(settings.static_dir)
    # The staff top bar: each section is shown to the roles that may open it.
    app[NAV] = []
    app[HEADER_POLICIES] = []
    app[DELIVERERS] = {}
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(bus_ctx)
    app.cleanup_ctx.append(auth.signin_ctx)
    app.cleanup_ctx.append(inbox_pages.inbox_ctx)  # the inbox's live streams, fed by the bus
    app.cleanup_ctx.append(embedder_ctx)
    app.cleanup_ctx.append(nlu_engine_ctx)
    app.cleanup_ctx.append(kb_web.kb_ctx)
    app.cleanup_ctx.append(tickets_web.tickets_ctx)
    app.cleanup_ctx.append(tickets_web.breach_ctx)
    app.cleanup_ctx.append(portal_web.portal_ctx)
    app.cleanup_ctx.append(reports_gauges.gauges_ctx)
    app.cleanup_ctx.append(notices_ctx)  # notices' fan-out and the daily reminders
    app.cleanup_ctx.append(runtime.engine_ctx)
    app.cleanup_ctx.append(runtime.telegram_ctx)
    app.cleanup_ctx.append(webchat.webchat_ctx)
    app[ASSETS].register(app)
    system.routes.register(app)
    auth.routes.register(app)
    runtime.routes.register(app)
    webchat.register(app)  # the web chat: /ws/chat, /widget.js, /demo
    app.add_subapp("/api/inbox", handoff_web.create_app())
    app.add_subapp("/api/kb", kb_web.create_app())
    app.add_subapp("/api", tickets_web.create_app())
    inbox_pages.register(app)  # the operator inbox's pages and live stream
    portal_web.register(app)  # the help center, the catalog and the customer portal
    kb_pages.register(app)  # the editors' pages (and their section in the staff top bar)
    reports_web.register(app)  # /reports for managers and admins
    records_pages.register(app)  # /records: customers' equipment and services, for admins
    notices_pages.register(app)  # /notices for admins
    # Channels add their deliverers before the outbox worker starts.
    app.cleanup_ctx.append(delivery_ctx)
    return app
