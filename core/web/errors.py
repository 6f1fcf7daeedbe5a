"""One JSON error shape for every API route: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.exc import DataError, StatementError

from core.errors import FrontlineError

log = logging.getLogger(__name__)
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
        log.exception("unhandled error", extra={"path": request.path})
        if not wants_json(request):
            raise
        return error_response(500, "internal_error", "something went wrong on our side; it has been logged")
