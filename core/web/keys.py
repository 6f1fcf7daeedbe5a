"""The application keys core provides; each package declares its own keys in its own ``keys`` module."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import SessionFactory
from core.events import EventBus
from core.settings import Settings
from core.templates import Templates
from core.web.metrics import Metrics

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", SessionFactory)
BUS = web.AppKey("bus", EventBus)
TEMPLATES = web.AppKey("templates", Templates)
METRICS = web.AppKey("metrics", Metrics)
