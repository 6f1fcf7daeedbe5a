"""Errors with a stable code: the web layer turns them into ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any, ClassVar


class FrontlineError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(FrontlineError):
    code = "invalid_input"
    status = 422


class UnknownChannel(InvalidInput):
    code = "unknown_channel"


class NotFound(FrontlineError):
    code = "not_found"
    status = 404


class Conflict(FrontlineError):
    code = "conflict"
    status = 409


class Forbidden(FrontlineError):
    code = "forbidden"
    status = 403


class Unauthorized(FrontlineError):
    code = "unauthorized"
    status = 401


class TooManyRequests(FrontlineError):
    code = "too_many_requests"
    status = 429
