"""One JSON error shape for every API route: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, StatementError

from core.errors import FrontlineError
from core.web.keys import PAGES
from core.web.pages import render_page

log = logging.getLogger(__name__)
# Seconds a client is asked to wait when the database is away: a PostgreSQL restart takes a few.
RETRY_AFTER_SECONDS = 5
# asyncpg's names for "the server went away or is not accepting connections yet" (SQLSTATE classes 08 and 57P),
# matched by name so this module does not import a driver the SQLite-only install lacks.
_UNAVAILABLE_NAMES = frozenset(
    {
        "CannotConnectNowError",
        "AdminShutdownError",
        "CrashShutdownError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "PostgresConnectionError",
        "ClientCannotConnectError",
        "TooManyConnectionsError",
    }
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_response(http_status: int, code: str, message: str, details: dict[str, Any] | None = None) -> web.Response:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=details or {}))
    return web.Response(text=body.model_dump_json(), status=http_status, content_type="application/json")


def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def _out_of_range(exc: BaseException) -> bool:
    if isinstance(exc, OverflowError | RecursionError | DataError):
        return True
    if isinstance(exc, StatementError):
        orig = exc.orig
        # asyncpg refuses an out-of-range argument before sending it (an interface error, not DataError)
        return isinstance(orig, OverflowError | RecursionError | UnicodeEncodeError) or "out of int" in str(orig)
    return False


_DRIVER_MODULES = ("sqlalchemy.", "asyncpg.", "aiosqlite.")


def _raised_in_database_driver(exc: BaseException) -> bool:
    """A socket error is the database's only if it came up through the driver (not, say, a call to Rasa)."""
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).startswith(_DRIVER_MODULES):
            return True
        tb = tb.tb_next
    return False


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached right now (restarting, refusing, SQLite locked).

    These are worth a retry, unlike a bug: the request's transaction rolled back and nothing was written.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, OSError | TimeoutError) and _raised_in_database_driver(current):
            return True
        if any(cls.__name__ in _UNAVAILABLE_NAMES for cls in type(current).__mro__):
            return True
        if type(current).__name__ == "OperationalError" and "database is locked" in str(current):
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
    return False


def unavailable_response(request: web.Request) -> web.Response:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if wants_json(request) or PAGES not in request.config_dict:
        response = error_response(
            503, "database_unavailable", "the database is not reachable right now; nothing was changed, retry shortly"
        )
        response.headers.update(headers)
        return response
    response = render_page(
        # Only a GET reloads itself: reloading after a form's POST would not send the form again.
        request,
        "unavailable.html",
        status=503,
        retry_after=RETRY_AFTER_SECONDS,
        reload=request.method == "GET",
    )
    response.headers.update(headers)
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except FrontlineError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400 or not wants_json(request):
            raise
        code = exc.reason.lower().replace(" ", "_")
        return error_response(exc.status, code, exc.text or exc.reason)
    except Exception as exc:
        if _out_of_range(exc):
            # The last line of defence for input a route did not bound (a number beyond 64 bits, a date past
            # year 9999 in UTC, text PostgreSQL cannot store): the transaction rolled back, nothing was written.
            log.warning("input out of range", extra={"path": request.path, "reason": repr(exc)[:300]})
            return error_response(422, "out_of_range", "a value in the request is out of range or cannot be stored")
        if database_unavailable(exc):
            log.warning("database unavailable", extra={"path": request.path, "reason": repr(exc)[:300]})
            return unavailable_response(request)
        log.exception("unhandled error", extra={"path": request.path})
        if not wants_json(request):
            raise
        return error_response(500, "internal_error", "something went wrong on our side; it has been logged")
