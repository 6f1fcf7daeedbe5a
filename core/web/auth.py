"""Staff sessions, the access middleware and CSRF — the few functions every access check goes through.

Staff sessions are server-side records (``staff_sessions``): the encrypted cookie (aiohttp-session + Fernet)
carries only a random token, and the record is looked up with the operator on every request, so logout, a
password change, a disable or a role change ends every copy of the cookie at once, on every worker.
Sign-in is throttled per client address and per login and checks the password off the event loop
(``core.signin``).
State-changing requests made with the session cookie need the session's CSRF token (header
``X-CSRF-Token`` or form field ``csrf_token``). Customer routes use a signed bearer token instead of
cookies, so CSRF does not apply to them. Portal routes use the same session cookie, bound to one customer
by a magic link instead of a password (and expiring after ``portal_session_max_age``), with the same CSRF
token.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp.web_urldispatcher import StaticResource
from aiohttp_session import Session, get_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from multidict import MultiDictProxy
from pydantic import BaseModel
from yarl import URL

from core.db import transaction
from core.errors import InvalidInput, Unauthorized
from core.models import Operator
from core.operators import count_active_admins, end_session, find_for_sign_in, record_sign_in, session_operator
from core.security import new_csrf_token, sign_token, verify_token
from core.signin.guard import SignInGuard
from core.signin.throttle import MemoryThrottle, RedisThrottle
from core.web.errors import error_response, wants_json
from core.web.keys import PORTAL_DENIED, SESSIONS, SETTINGS, SIGNIN, TEMPLATES
from core.web.pages import page_language, render_page
from core.web.routes import ACCESS_RANK, ROLE_RANK, STAFF, Access, Routes, json_response, route_spec

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)
OPERATOR_KEY = web.RequestKey("operator", Operator)
CUSTOMER_KEY = web.RequestKey("customer", dict[str, Any])
PORTAL_CUSTOMER_KEY = web.RequestKey("portal_customer", int)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
COOKIE = "frontline_session"
NO_ADMIN_HINT = (
    "there is no active admin account, so nobody can sign in to manage this desk; create one with "
    "`frontline operator add LOGIN --role admin` (in Docker: `docker compose exec app frontline operator add "
    "LOGIN --role admin`), or load the demo data with `frontline demo load` on a trial install"
)
DEVICE_COOKIE = "frontline_device"
DEVICE_TTL = 180 * 24 * 3600


async def signin_ctx(app: web.Application) -> AsyncIterator[None]:
    """The sign-in guard: throttle counts in Redis when configured (shared by workers), in process otherwise."""
    from redis.asyncio import Redis

    url = app[SETTINGS].redis_url
    redis = Redis.from_url(url) if url else None
    app[SIGNIN] = SignInGuard(RedisThrottle(redis) if redis is not None else MemoryThrottle())
    await app[SIGNIN].warm_up()
    async with transaction(app[SESSIONS]) as db:
        admins = await count_active_admins(db)
    if admins == 0:
        log.warning(NO_ADMIN_HINT)
    yield
    app[SIGNIN].close()
    if redis is not None:
        await redis.aclose()


def session_setup(secret: bytes, max_age: int, secure: bool = False) -> Any:
    key = hashlib.sha256(b"session:" + secret).digest()  # raw 32 bytes; the storage base64-encodes it
    storage = EncryptedCookieStorage(
        key, cookie_name=COOKIE, max_age=max_age, httponly=True, samesite="Lax", secure=secure
    )
    return session_middleware(storage)


async def csrf_token(request: web.Request) -> str:
    session = await get_session(request)
    token = session.get("csrf")
    if not isinstance(token, str):
        token = new_csrf_token()
        session["csrf"] = token
    return token


def current_operator(request: web.Request) -> Operator:
    operator = request.get(OPERATOR_KEY)
    if not isinstance(operator, Operator):
        raise Unauthorized("sign in first")
    return operator


async def session_check(request: web.Request) -> Callable[[], Awaitable[bool]]:
    """For a response that outlives its request's access check (a live stream): a function that tells whether
    the staff session that opened it is still signed in — not expired, not signed out, on any worker."""
    token = (await get_session(request)).get("sid")
    sessions = request.config_dict[SESSIONS]

    async def signed_in() -> bool:
        if not isinstance(token, str):
            return False
        async with transaction(sessions) as db:
            return await session_operator(db, token) is not None

    return signed_in


def portal_customer_id(request: web.Request) -> int:
    """For portal handlers: the id of the customer the session is bound to (the middleware guarantees one)."""
    customer_id = request.get(PORTAL_CUSTOMER_KEY)
    if not isinstance(customer_id, int):
        raise Unauthorized("open the portal with a link from the bot first")
    return customer_id


async def start_customer_session(request: web.Request, customer_id: int) -> None:
    """A fresh session bound to one customer: whatever session the browser had (staff or another customer) ends."""
    session = await get_session(request)
    session.invalidate()
    session = await get_session(request)
    session["customer_id"] = customer_id
    session["customer_issued_at"] = int(time.time())
    session["csrf"] = new_csrf_token()


def _portal_customer(request: web.Request, session: Session) -> int | None:
    customer_id = session.get("customer_id")
    issued = session.get("customer_issued_at")
    if not isinstance(customer_id, int) or not isinstance(issued, int):
        return None
    settings = request.config_dict[SETTINGS]
    if issued + min(settings.portal_session_max_age, settings.session_max_age) < time.time():
        session.invalidate()
        return None
    return customer_id


async def _load_operator(request: web.Request, session: Session) -> Operator | None:
    token = session.get("sid")
    if not isinstance(token, str):
        return None
    async with transaction(request.config_dict[SESSIONS]) as db:
        operator = await session_operator(db, token)
    if operator is None:  # ended (logout, password, role, disable) or expired
        session.invalidate()
        return None
    return operator


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | Any]:
    """The form body; a malformed one (broken multipart, bad encoding) is a clear 4xx, not a 500."""
    try:
        return await request.post()
    except web.HTTPException:
        raise
    except Exception as exc:  # aiohttp raises assorted ValueError/AssertionError/UnicodeError subclasses here
        raise InvalidInput("the form body could not be read", reason=type(exc).__name__) from None


async def _check_csrf(request: web.Request, session: Session) -> bool:
    expected = session.get("csrf")
    if not isinstance(expected, str):
        return False
    supplied = request.headers.get("X-CSRF-Token")
    if supplied is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await read_form(request)
        value = form.get("csrf_token")
        supplied = value if isinstance(value, str) else None
    return supplied is not None and supplied == expected


def _deny(request: web.Request, status: int, message: str) -> web.StreamResponse:
    if wants_json(request) or request.method != "GET":
        code = "unauthorized" if status == 401 else "forbidden"
        return error_response(status, code, message)
    if status == 401:
        raise web.HTTPFound(f"/login?next={quote(request.path_qs)}")
    return error_response(status, "forbidden", message)


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Enforce the route's declared access; a route that declares none is refused (fail closed)."""
    match = request.match_info
    if match.http_exception is not None:
        return await handler(request)
    if isinstance(match.route.resource, StaticResource):
        return await handler(request)
    spec = route_spec(match.handler)
    if spec is None:
        return error_response(500, "no_access_policy", "this route declares no access policy")
    if spec.access is Access.PUBLIC:
        # Public forms (the login form) still need the pre-session CSRF token.
        if spec.method in UNSAFE_METHODS and spec.html and not await _check_csrf(request, await get_session(request)):
            return _deny(request, 403, "the form has expired; reload the page")
        return await handler(request)
    if spec.access is Access.CUSTOMER:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        claims = verify_token(request.config_dict[SETTINGS].secret, token) if token else None
        if claims is None or claims.get("kind") != "visitor":
            return _deny(request, 401, "a valid visitor token is required")
        request[CUSTOMER_KEY] = claims
        return await handler(request)
    if spec.access is Access.PORTAL:
        session = await get_session(request)
        customer_id = _portal_customer(request, session)
        denied = request.config_dict.get(PORTAL_DENIED)
        if customer_id is None:
            return await denied(request, 401) if denied else _deny(request, 401, "open the portal with a new link")
        if request.method in UNSAFE_METHODS and not await _check_csrf(request, session):
            return await denied(request, 403) if denied else _deny(request, 403, "the form has expired; reload it")
        request[PORTAL_CUSTOMER_KEY] = customer_id
        return await handler(request)
    assert spec.access in STAFF
    session = await get_session(request)
    operator = await _load_operator(request, session)
    if operator is None:
        return _deny(request, 401, "sign in first")
    if ROLE_RANK[operator.role.value] < ACCESS_RANK[spec.access]:
        return _deny(request, 403, f"this needs the {spec.access.value} role")
    if request.method in UNSAFE_METHODS and not await _check_csrf(request, session):
        return _deny(request, 403, "missing or wrong CSRF token")
    request[OPERATOR_KEY] = operator
    return await handler(request)


routes = Routes("auth")


def _safe_next(value: object) -> str:
    """A local path to go to after sign-in, judged as it will be sent in ``Location``; "/" for anything else.

    Browsers and yarl drop tabs and newlines from URLs, so ``/\t/evil.example`` would leave as
    ``//evil.example``: any control character, space or backslash is refused outright, and the value the
    redirect will carry is checked again.
    """
    text = value if isinstance(value, str) else "/"
    if not text.startswith("/") or any(c <= " " or c in "\\\x7f" for c in text):
        return "/"
    try:
        sent = str(URL(text))
    except ValueError:
        return "/"
    parts = urlsplit(sent)
    if not sent.startswith("/") or sent.startswith("//") or parts.scheme or parts.netloc:
        return "/"
    return sent


def client_address(request: web.Request) -> str:
    """The address sign-in throttling counts by: the peer, or the proxy's last X-Forwarded-For entry if trusted."""
    if request.config_dict[SETTINGS].trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last[:64]
    return request.remote or "unknown"


def _device_key(request: web.Request) -> bytes:
    return hashlib.sha256(b"device:" + request.config_dict[SETTINGS].secret).digest()


def _trusted_device(request: web.Request, login: str) -> bool:
    """Whether this browser has signed in to ``login`` before (a signed device cookie set at that sign-in)."""
    token = request.cookies.get(DEVICE_COOKIE, "")
    claims = verify_token(_device_key(request), token) if token else None
    return claims is not None and claims.get("kind") == "device" and claims.get("login") == login


@routes.get("/login", access=Access.PUBLIC, html=True)
async def login_page(request: web.Request) -> web.StreamResponse:
    """The staff sign-in page."""
    templates = request.config_dict[TEMPLATES]
    info = None
    if request.query.get("expired"):
        info = templates.render("login.expired", page_language(request, templates))
    return render_page(
        request,
        "login.html",
        csrf_token=await csrf_token(request),
        next=_safe_next(request.query.get("next", "/")),
        error=None,
        info=info,
    )


@routes.post("/login", access=Access.PUBLIC, html=True)
async def login_submit(request: web.Request) -> web.StreamResponse:
    """Sign in with login and password; throttled per client address and per login."""
    form = await read_form(request)
    login = str(form.get("login", ""))[:200].strip().lower()
    password = str(form.get("password", ""))[:1024]
    next_url = _safe_next(form.get("next", "/"))
    guard = request.config_dict[SIGNIN]
    address = client_address(request)
    trusted = _trusted_device(request, login)
    templates = request.config_dict[TEMPLATES]
    refusal = await guard.refusal(address, login, trusted)
    if refusal is not None:
        response = render_page(
            request,
            "login.html",
            status=429,
            csrf_token=await csrf_token(request),
            next=next_url,
            error=templates.render("login.throttled", page_language(request, templates), seconds=refusal.retry_after),
        )
        response.headers["Retry-After"] = str(refusal.retry_after)
        return response
    # Read the account, then check the password outside any transaction and off the event loop.
    async with transaction(request.config_dict[SESSIONS]) as db:
        operator = await find_for_sign_in(db, login)
        account = (operator.id, operator.password_hash, operator.active) if operator else None
    # Counted before the hash (a success clears it): attempts arriving while hashes queue still meet the wait.
    await guard.failed(address, login, trusted)
    matches = await guard.check_password(account[1] if account else None, password)
    if account is None or not matches or not account[2]:
        return render_page(
            request,
            "login.html",
            status=401,
            csrf_token=await csrf_token(request),
            next=next_url,
            error=templates.render("login.failed", page_language(request, templates)),
        )
    await guard.succeeded(address, login)
    settings = request.config_dict[SETTINGS]
    async with transaction(request.config_dict[SESSIONS]) as db:
        token = await record_sign_in(db, account[0], settings.session_max_age)
    # A fresh session on login: a session fixed before sign-in must not carry over.
    session = await get_session(request)
    session.invalidate()
    session = await get_session(request)
    session["sid"] = token
    session["issued_at"] = int(time.time())
    session["csrf"] = new_csrf_token()
    response = web.HTTPFound(next_url)
    response.set_cookie(
        DEVICE_COOKIE,
        sign_token(_device_key(request), {"kind": "device", "login": login}, DEVICE_TTL),
        max_age=DEVICE_TTL,
        path="/login",
        httponly=True,
        samesite="Lax",
        secure=settings.cookies_secure,
    )
    raise response


@routes.post("/logout", access=Access.OPERATOR, html=True)
async def logout(request: web.Request) -> web.StreamResponse:
    """Sign out: the session record is deleted, so every copy of the cookie stops working."""
    session = await get_session(request)
    token = session.get("sid")
    if isinstance(token, str):
        async with transaction(request.config_dict[SESSIONS]) as db:
            await end_session(db, token)
    session.invalidate()
    raise web.HTTPFound("/login")


@routes.get("/", access=Access.OPERATOR, html=True)
async def home(request: web.Request) -> web.StreamResponse:
    """The staff start page."""
    operator = current_operator(request)
    return render_page(
        request,
        "home.html",
        operator=operator,
        language=operator.language,
        csrf_token=await csrf_token(request),
    )


class Me(BaseModel):
    id: int
    login: str
    name: str
    role: str
    language: str
    csrf_token: str


@routes.get("/api/me", access=Access.OPERATOR, response=Me)
async def me(request: web.Request) -> web.Response:
    """The signed-in staff account and the CSRF token for JSON calls."""
    operator = current_operator(request)
    return json_response(
        Me(
            id=operator.id,
            login=operator.login,
            name=operator.name,
            role=operator.role.value,
            language=operator.language,
            csrf_token=await csrf_token(request),
        )
    )
