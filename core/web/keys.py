"""The application keys core provides; each package declares its own keys in its own ``keys`` module.

Keys are typed without importing what they hold at run time (``TYPE_CHECKING`` only), so any module —
including the implementations themselves — can import a keys module without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from jinja2 import Environment
    from sqlalchemy.ext.asyncio import AsyncEngine

    from core.db import SessionFactory
    from core.events import EventBus
    from core.settings import Settings
    from core.signin.guard import SignInGuard
    from core.templates import Templates
    from core.web.headers import HeaderPolicy
    from core.web.metrics import Metrics
    from core.web.pages import Assets, NavItem

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DB_ENGINE: web.AppKey[AsyncEngine] = web.AppKey("db_engine")
SESSIONS: web.AppKey[SessionFactory] = web.AppKey("sessions")
BUS: web.AppKey[EventBus] = web.AppKey("bus")
TEMPLATES: web.AppKey[Templates] = web.AppKey("templates")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
PAGES: web.AppKey[Environment] = web.AppKey("pages")
ASSETS: web.AppKey[Assets] = web.AppKey("assets")
NAV: web.AppKey[list[NavItem]] = web.AppKey("nav")
# The answer to a portal request without a valid customer session (401) or CSRF token (403), from the package
# serving the portal (its own page in its own look); without one the access middleware answers in JSON.
PORTAL_DENIED: web.AppKey[Callable[[web.Request, int], Awaitable[web.StreamResponse]]] = web.AppKey("portal_denied")
# Sign-in throttling and the off-loop password check (see core.signin).
SIGNIN: web.AppKey[SignInGuard] = web.AppKey("signin")
# Per-prefix exceptions to the security headers' default policy (see core.web.headers.allow_framing).
HEADER_POLICIES: web.AppKey[list[tuple[str, HeaderPolicy]]] = web.AppKey("header_policies")
