"""The web application: health, metrics, OpenAPI, staff sign-in, CSRF and the authorization matrix."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiohttp.web_urldispatcher import StaticResource
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.demo import load_demo
from core.db import session_factory
from core.security import sign_token
from core.settings import Settings
from core.web.routes import ACCESS_RANK, ROLE_RANK, Access, route_spec
from tests.support.staff import DEMO_LOGINS, form_csrf, sign_in

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def app(settings: Settings, engine: AsyncEngine) -> web.Application:
    await load_demo(session_factory(engine), settings)
    return create_app(settings)


@pytest.fixture
async def client(app: web.Application, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(app)


async def test_healthz_reports_the_database(client: TestClient[Any, Any]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok", "redis": "not configured"}


async def test_healthz_reports_redis_when_configured(
    settings: Settings, engine: AsyncEngine, aiohttp_client: ClientFactory, redis_url: str
) -> None:
    settings.redis_url = redis_url
    client = await aiohttp_client(create_app(settings))
    assert (await (await client.get("/healthz")).json())["redis"] == "ok"


async def test_metrics_count_requests(client: TestClient[Any, Any]) -> None:
    await client.get("/healthz")
    body = await (await client.get("/metrics")).text()
    assert 'frontline_http_requests_total{method="GET",route="/healthz",status="200"}' in body


async def test_openapi_documents_the_json_routes(client: TestClient[Any, Any]) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert doc["paths"]["/api/me"]["get"]["x-access"] == "operator"
    assert "Health" in doc["components"]["schemas"]


async def test_sign_in_and_out(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/me")).status == 401
    csrf = await sign_in(client, "admin")
    home = await client.get("/")
    assert home.status == 200
    assert "Администратор" in await home.text()
    out = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.status == 302
    assert (await client.get("/api/me")).status == 401


async def test_wrong_password_is_refused(client: TestClient[Any, Any]) -> None:
    token = await form_csrf(client)
    response = await client.post("/login", data={"login": "admin", "password": "nope", "csrf_token": token})
    assert response.status == 401
    assert "Неверный логин или пароль" in await response.text()


async def test_login_form_without_csrf_is_refused(client: TestClient[Any, Any]) -> None:
    login, password = DEMO_LOGINS["admin"]
    response = await client.post("/login", data={"login": login, "password": password}, allow_redirects=False)
    assert response.status == 403


async def test_state_change_without_csrf_is_refused(client: TestClient[Any, Any]) -> None:
    await sign_in(client, "admin")
    response = await client.post("/logout", allow_redirects=False)
    assert response.status == 403
    assert (await client.get("/api/me")).status == 200, "still signed in"


async def test_forged_session_cookie_is_anonymous(client: TestClient[Any, Any]) -> None:
    client.session.cookie_jar.update_cookies({"frontline_session": "gAAAAABforged"})
    assert (await client.get("/api/me")).status == 401


async def test_expired_session_is_refused(
    settings: Settings, engine: AsyncEngine, aiohttp_client: ClientFactory
) -> None:
    await load_demo(session_factory(engine), settings)
    settings.session_max_age = 1
    client = await aiohttp_client(create_app(settings))
    await sign_in(client, "operator")
    import asyncio

    await asyncio.sleep(2.1)
    assert (await client.get("/api/me")).status == 401


async def test_every_route_declares_an_access_policy(app: web.Application) -> None:
    undeclared = [
        f"{r.method} {r.resource.canonical}"
        for r in app.router.routes()
        if r.resource is not None
        and not isinstance(r.resource, StaticResource)
        and r.method != "HEAD"
        and route_spec(r.handler) is None
    ]
    assert undeclared == []


def _allowed(access: Access, role: str | None) -> bool:
    if access is Access.PUBLIC:
        return True
    if access in (Access.CUSTOMER, Access.PORTAL) or role is None:
        return False  # no caller here holds a visitor token or a portal session
    return ROLE_RANK[role] >= ACCESS_RANK[access]


@pytest.mark.parametrize("role", [None, "operator", "editor", "manager", "admin"])
async def test_authorization_matrix(app: web.Application, aiohttp_client: ClientFactory, role: str | None) -> None:
    """Every registered route × every kind of caller gets the answer its declared policy allows."""
    client = await aiohttp_client(app)
    csrf = await sign_in(client, role) if role else None
    declared = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route_spec(route.handler) is not None and route.method != "HEAD" and route.resource is not None
    }
    session_changing = {("POST", "/logout"), ("POST", "/login")}  # covered by their own tests
    assert session_changing <= declared
    checked: set[tuple[str, str]] = set()
    for route in list(app.router.routes()):
        spec = route_spec(route.handler)
        if spec is None or route.method == "HEAD" or route.resource is None:
            continue
        if (route.method, route.resource.canonical) in session_changing:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.resource.canonical)
        headers = {"X-CSRF-Token": csrf} if csrf else {}
        response = await client.request(spec.method, path, headers=headers, json={}, allow_redirects=False)
        checked.add((route.method, route.resource.canonical))
        if _allowed(spec.access, role):
            assert response.status not in (401, 403), f"{spec.method} {path} refused {role}"
        elif role is None and spec.html and spec.method == "GET" and spec.access is not Access.PORTAL:
            assert response.status == 302
            assert response.headers["Location"].startswith("/login")
        else:
            expected = 401 if role is None or spec.access in (Access.CUSTOMER, Access.PORTAL) else 403
            assert response.status == expected, f"{spec.method} {path} as {role}: {response.status}"
    assert checked == declared - session_changing, "every declared route was called"
    # Each package's routes are among them (sub-apps included): the walk did not silently skip a mounted app.
    for prefix in (
        "/healthz",
        "/login",
        "/api/me",
        "/api/kb/",
        "/api/tickets",
        "/api/incidents",
        "/api/inbox/",
        "/records",
    ):
        assert any(path.startswith(prefix) for _method, path in checked), prefix


async def test_visitor_token_forged_or_expired_is_refused(settings: Settings) -> None:
    from core.security import verify_token

    token = sign_token(settings.secret, {"kind": "visitor", "sub": "v1"}, ttl=60)
    assert verify_token(settings.secret, token) is not None
    assert verify_token(b"another-key", token) is None
    assert verify_token(settings.secret, token[:-2] + "xx") is None
    assert verify_token(settings.secret, sign_token(settings.secret, {"kind": "visitor"}, ttl=-1)) is None
    assert verify_token(settings.secret, "garbage") is None
