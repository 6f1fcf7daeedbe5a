"""System routes: health, metrics, the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy import text

from core.web.keys import DB_ENGINE, SETTINGS
from core.web.metrics import metrics_view
from core.web.openapi import build_openapi
from core.web.routes import Access, Routes, json_response

routes = Routes("system")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "error"]
    redis: Literal["ok", "error", "not configured"]


@routes.get("/healthz", access=Access.PUBLIC, response=Health)
async def healthz(request: web.Request) -> web.Response:
    """Liveness and dependencies: the database and, when configured, Redis."""
    database: Literal["ok", "error"] = "ok"
    try:
        async with request.config_dict[DB_ENGINE].connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=5)
    except Exception:
        database = "error"
    redis_state: Literal["ok", "error", "not configured"] = "not configured"
    url = request.config_dict[SETTINGS].redis_url
    if url:
        from redis.asyncio import Redis

        client = Redis.from_url(url, socket_timeout=2)
        try:
            await client.ping()
            redis_state = "ok"
        except Exception:
            redis_state = "error"
        finally:
            await client.aclose()
    healthy = database == "ok" and redis_state != "error"
    body = Health(status="ok" if healthy else "degraded", database=database, redis=redis_state)
    return json_response(body, status=200 if healthy else 503)


@routes.get("/metrics", access=Access.PUBLIC)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics."""
    return await metrics_view(request)


@routes.get("/api/openapi.json", access=Access.PUBLIC)
async def openapi(request: web.Request) -> web.Response:
    """This API's OpenAPI 3 document."""
    # Registered on the root application, so request.app sees every sub-app's routes.
    return web.json_response(build_openapi(request.app))
