"""Issue 11 regression tests: sign-in throttling, sessions that end, redirects, headers, bad input (core web)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

import core.security as guard_module
from bot.app import create_app
from bot.demo import DEMO_ACCOUNTS
from core.db import session_factory, transaction
from core.operators import add_operator, set_active, set_password, set_role
from core.settings import ROOT, Settings
from core.signin.guard import SignInGuard
from core.signin.throttle import MemoryThrottle, RedisThrottle
from core.web.headers import allow_framing
from kb.markdown import render_html
from tests.support.staff import DEMO_LOGINS, sign_in

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


async def add_demo_staff(engine: AsyncEngine) -> None:
    """The demo staff accounts only (the full demo also loads and embeds the knowledge base)."""
    async with transaction(session_factory(engine)) as db:
        for account in DEMO_ACCOUNTS:
            await add_operator(db, account.login, account.password, account.role, account.name)


@pytest.fixture
async def app(settings: Settings, engine: AsyncEngine) -> web.Application:
    await add_demo_staff(engine)
    settings.trust_forwarded_for = True  # lets one test play clients at several addresses
    return create_app(settings)


@pytest.fixture
async def client(app: web.Application, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(app)


@pytest.fixture
async def clean_redis(redis_url: str) -> str:
    redis = Redis.from_url(redis_url)
    async for key in redis.scan_iter(match="frontline:signin:*"):
        await redis.delete(key)
    await redis.aclose()
    return redis_url


Browser = TestClient[Any, Any] | aiohttp.ClientSession


@asynccontextmanager
async def another_browser(client: TestClient[Any, Any]) -> AsyncIterator[aiohttp.ClientSession]:
    """A second browser (its own cookies) talking to the same running application."""
    async with aiohttp.ClientSession(
        base_url=client.make_url("/"), cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as session:
        yield session


async def _attempt(
    client: Browser, login: str, password: str, address: str = "10.0.0.1", **extra: str
) -> tuple[int, str, Any]:
    page = await (await client.get("/login")).text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    token = found.group(1)
    response = await client.post(
        "/login",
        data={"login": login, "password": password, "csrf_token": token, **extra},
        headers={"X-Forwarded-For": address},
        allow_redirects=False,
    )
    return response.status, await response.text(), response


# --- 1. failed sign-ins cannot freeze the server ------------------------------------------------------


async def test_finding1_wrong_passwords_from_one_address_are_throttled(client: TestClient[Any, Any]) -> None:
    for _ in range(5):
        status, text, _r = await _attempt(client, "admin", "wrong-password")
        assert status == 401, "the first five failures answer at once"
    status, text, response = await _attempt(client, "admin", "wrong-password")
    assert status == 429
    assert "Слишком много попыток" in text
    seconds = int(response.headers["Retry-After"])
    assert seconds >= 1
    assert f"через {seconds} с" in text
    # Another address is not slowed down by this one.
    status, _text, _r = await _attempt(client, "operator", "wrong-password", address="10.0.0.2")
    assert status == 401


async def test_finding1_throttled_attempts_do_not_hash(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(6):
        await _attempt(client, "admin", "wrong-password")
    calls: list[str] = []
    real = guard_module.verify_password

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(guard_module, "verify_password", counting)
    for _ in range(3):
        status, _text, _r = await _attempt(client, "admin", "wrong-password")
        assert status == 429
    assert calls == [], "a refused attempt costs no password hash"


async def test_finding1_password_check_leaves_the_event_loop_free() -> None:
    guard = SignInGuard(MemoryThrottle())
    password_hash = await asyncio.to_thread(guard_module.hash_password, "correct horse")
    ticks = 0
    check = asyncio.ensure_future(guard.check_password(password_hash, "wrong"))
    while not check.done():
        ticks += 1
        await asyncio.sleep(0)
    assert await check is False
    assert ticks > 10, "other tasks ran while argon2 worked"


async def test_finding1_throttle_is_shared_through_redis(
    settings: Settings, engine: AsyncEngine, aiohttp_client: ClientFactory, clean_redis: str
) -> None:
    await add_demo_staff(engine)
    settings.redis_url = clean_redis
    settings.trust_forwarded_for = True
    first = await aiohttp_client(create_app(settings))
    second = await aiohttp_client(create_app(settings))  # another worker
    for _ in range(5):
        assert (await _attempt(first, "admin", "wrong-password", address="10.1.1.1"))[0] == 401
    status, text, _r = await _attempt(second, "admin", "wrong-password", address="10.1.1.1")
    assert status == 429
    assert "Слишком много попыток" in text


async def test_finding1_redis_and_memory_throttles_agree(clean_redis: str) -> None:
    redis = Redis.from_url(clean_redis)
    try:
        for store in (MemoryThrottle(), RedisThrottle(redis)):
            guard = SignInGuard(store)
            for _ in range(5):
                assert await guard.refusal("192.0.2.1", "someone", trusted_device=False) is None
                await guard.failed("192.0.2.1", "someone", trusted_device=False)
            refusal = await guard.refusal("192.0.2.1", "someone", trusted_device=False)
            assert refusal is not None
            assert refusal.retry_after == 1
            await guard.succeeded("192.0.2.1", "someone")
            assert await guard.refusal("192.0.2.1", "someone", trusted_device=False) is None
    finally:
        await redis.aclose()


# --- 2. no lockout of the account owner ----------------------------------------------------------------


async def test_finding2_strangers_cannot_lock_the_owner_out(client: TestClient[Any, Any]) -> None:
    owner = client
    login, password = DEMO_LOGINS["admin"]
    # The owner's browser has signed in before (it carries the device cookie).
    assert (await _attempt(owner, login, password, address="10.9.0.1"))[0] == 302
    async with another_browser(client) as stranger:
        refused = 0
        for n in range(40):  # from many addresses, so the per-login wait kicks in as well
            status, _text, _r = await _attempt(stranger, login, "guess", address=f"10.8.{n}.1")
            refused += status == 429
        assert refused > 0, "the guesses themselves are throttled"
        status, _text, _response = await _attempt(owner, login, password, address="10.9.0.1")
        assert status == 302, "the owner's known browser signs in despite the guesses"
        # A browser new to a login, at an address of its own, is not locked out either: accounts never lock.
        for n in range(5):
            await _attempt(stranger, "editor", "guess", address=f"10.7.{n}.1")
    async with another_browser(client) as newcomer:
        assert (await _attempt(newcomer, *DEMO_LOGINS["editor"], address="10.6.0.1"))[0] == 302


# --- 3. login names cannot be enumerated ---------------------------------------------------------------


async def test_finding3_unknown_and_known_logins_answer_alike(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_verify, real_hash = guard_module.verify_password, guard_module.hash_password

    def verify(password_hash: str, password: str) -> bool:
        calls.append("verify")
        return real_verify(password_hash, password)

    def hash_(password: str) -> str:
        calls.append("hash")
        return real_hash(password)

    monkeypatch.setattr(guard_module, "verify_password", verify)
    monkeypatch.setattr(guard_module, "hash_password", hash_)
    answers = []
    for n, login in enumerate(["admin", "no-such-person", "operator", "nobody-at-all"]):
        calls.clear()
        status, text, _r = await _attempt(client, login, "wrong-password", address=f"10.5.{n}.1")
        main = re.search(r'<div class="notice" role="alert">(.*?)</div>', text, re.S)
        assert main is not None
        answers.append((status, main.group(1)))
        assert calls == ["verify"], f"{login}: one hash, like any other login"
    assert len(set(answers)) == 1, answers


# --- 4. sessions end everywhere ------------------------------------------------------------------------


async def _stolen_copy_works(client: TestClient[Any, Any]) -> bool:
    """Whether a copy of the client's session cookie, replayed from another browser, still reads /api/me."""
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["frontline_session"].value
    async with another_browser(client) as thief:
        response = await thief.get("/api/me", headers={"Cookie": f"frontline_session={cookie}"})
        return response.status == 200


async def test_finding4_logout_ends_every_copy_of_the_session(client: TestClient[Any, Any]) -> None:
    csrf = await sign_in(client, "editor")
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["frontline_session"].value
    assert await _stolen_copy_works(client)
    assert (await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)).status == 302
    async with another_browser(client) as thief:
        headers = {"Cookie": f"frontline_session={cookie}", "X-CSRF-Token": csrf}
        assert (await thief.get("/api/me", headers=headers)).status == 401
        article = await thief.post(
            "/api/kb/articles", json={"title": "Stolen", "body": "written after logout"}, headers=headers
        )
        assert article.status == 401


@pytest.mark.parametrize("change", ["password", "disable", "role"])
async def test_finding4_account_changes_end_every_session(
    client: TestClient[Any, Any], engine: AsyncEngine, change: str
) -> None:
    await sign_in(client, "operator")
    assert await _stolen_copy_works(client)
    login = DEMO_LOGINS["operator"][0]
    async with transaction(session_factory(engine)) as db:
        if change == "password":
            await set_password(db, login, "a-brand-new-password")
        elif change == "disable":
            await set_active(db, login, False)
        else:
            await set_role(db, login, "editor")
    assert not await _stolen_copy_works(client)
    assert (await client.get("/api/me")).status == 401


# --- 5. no open redirect after sign-in -----------------------------------------------------------------


@pytest.mark.parametrize(
    "next_value",
    ["/\t/evil.example/phish", "//evil.example", "/\\evil.example", "/\n/evil.example", "https://evil.example", "/ /x"],
)
async def test_finding5_next_never_leaves_the_site(client: TestClient[Any, Any], next_value: str) -> None:
    status, _text, response = await _attempt(client, *DEMO_LOGINS["admin"], next=next_value)
    assert status == 302
    assert response.headers["Location"] == "/"


async def test_finding5_login_page_link_with_a_tab_is_neutralised(client: TestClient[Any, Any]) -> None:
    page = await (await client.get("/login?next=/%09/evil.example/phish")).text()
    assert 'name="next" value="/"' in page
    _status, _text, response = await _attempt(client, *DEMO_LOGINS["admin"], next="/tickets?id=1")
    assert response.headers["Location"] == "/tickets?id=1"


# --- 10. security headers and the Secure cookie --------------------------------------------------------


async def test_finding10_pages_send_security_headers(client: TestClient[Any, Any]) -> None:
    page = await client.get("/login")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    health = await client.get("/healthz")
    assert health.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in health.headers
    redirect = await client.get("/", allow_redirects=False)  # an exception response gets them too
    assert redirect.status == 302
    assert redirect.headers["X-Content-Type-Options"] == "nosniff"


async def test_finding10_framing_exception_is_per_prefix(app: web.Application, aiohttp_client: ClientFactory) -> None:
    allow_framing(app, "/login", "https://shop.example")
    client = await aiohttp_client(app)
    framed = await client.get("/login")
    assert "frame-ancestors https://shop.example" in framed.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in framed.headers
    async with another_browser(client) as browser:
        other = await browser.get("/help")
        if other.content_type == "text/html":
            assert "frame-ancestors 'none'" in other.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("public_url", "setting", "secure"),
    [("", None, False), ("https://desk.example", None, True), ("https://desk.example", False, False), ("", True, True)],
)
async def test_finding10_session_cookie_secure_setting(
    settings: Settings,
    engine: AsyncEngine,
    aiohttp_client: ClientFactory,
    public_url: str,
    setting: bool | None,
    secure: bool,
) -> None:
    settings.public_url = public_url
    settings.session_cookie_secure = setting
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/login")
    cookie = response.cookies["frontline_session"]
    assert bool(cookie["secure"]) is secure
    assert cookie["httponly"]


# --- 14. no tracking pixels in articles ----------------------------------------------------------------


def test_finding14_article_images_only_from_this_site_data_or_the_allow_list() -> None:
    body = "![pixel](https://tracker.example/p.gif) ![logo](/static/logo.png) ![dot](data:image/png;base64,AAAA)"
    rendered = render_html(body)
    assert "tracker.example" not in rendered
    assert 'src="/static/logo.png"' in rendered
    assert 'src="data:image/png;base64,AAAA"' in rendered
    assert "//tracker.example" not in render_html("![p](//tracker.example/p.gif)")
    allowed = render_html("![cdn](https://cdn.example/a.png)", image_sources=["https://cdn.example"])
    assert 'src="https://cdn.example/a.png"' in allowed
    assert "cdn.example.evil" not in render_html("![x](https://cdn.example.evil/a.png)", ["https://cdn.example"])


async def test_finding14_pages_allow_images_only_from_this_site_and_the_allow_list(
    settings: Settings, engine: AsyncEngine, aiohttp_client: ClientFactory
) -> None:
    settings.image_sources = ["https://cdn.example"]
    client = await aiohttp_client(create_app(settings))
    csp = (await client.get("/login")).headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://cdn.example" in csp


# --- 13. no demo staff in production -------------------------------------------------------------------


def test_finding13_the_image_loads_demo_data_only_when_asked() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    command = next(line for line in dockerfile.splitlines() if line.startswith("CMD"))
    assert "demo load" in command
    assert 'if [ \\"${FRONTLINE_LOAD_DEMO:-0}\\" = 1 ]; then frontline demo load; fi' in command
    assert "demo" in (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].splitlines()[0], "make run still asks"


async def test_finding13_a_start_without_an_admin_says_how_to_create_one(
    settings: Settings, engine: AsyncEngine, aiohttp_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="core.web.auth"):
        await aiohttp_client(create_app(settings))
    assert any("frontline operator add LOGIN --role admin" in r.getMessage() for r in caplog.records)
    caplog.clear()
    await add_demo_staff(engine)
    with caplog.at_level(logging.WARNING, logger="core.web.auth"):
        await aiohttp_client(create_app(settings))
    assert not any("--role admin" in r.getMessage() for r in caplog.records)
