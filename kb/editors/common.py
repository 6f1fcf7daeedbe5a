"""What every editors' page shares: the route tables, the security headers, rendering a page in the
operator's language, and reading choices and problems out of requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from core.errors import FrontlineError
from core.web.auth import current_operator
from core.web.keys import TEMPLATES
from core.web.routes import Routes
from core.web.staff import staff_page
from kb.keys import KNOWLEDGE_BASE
from kb.service import KnowledgeBase

PAGES_DIR = Path(__file__).parent.parent / "pages"
CSP = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
LANGUAGES = ("ru", "en")
routes = Routes("kb-pages")
entry = Routes("kb-pages")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def kb_of(request: web.Request) -> KnowledgeBase:
    return request.config_dict[KNOWLEDGE_BASE]


def phrase(request: web.Request, key: str, **params: Any) -> str:
    return request.config_dict[TEMPLATES].render(key, current_operator(request).language, **params)


async def page(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    return await staff_page(request, name, status=status, **context)


def choice(request: web.Request, name: str, allowed: Sequence[str], default: str = "") -> str:
    value = request.query.get(name, default)
    return value if value in allowed else default


def problems(request: web.Request, exc: ValidationError | FrontlineError) -> list[str]:
    """Readable problems: the field's label from the templates with the validator's message."""
    if isinstance(exc, ValidationError):
        errors: list[Any] = exc.errors(include_url=False, include_context=False, include_input=False)
    else:
        errors = list(exc.details.get("errors", [])) if isinstance(exc.details.get("errors"), list) else []
        if not errors:
            return [exc.message]
    out = []
    for error in errors:
        where = next((str(p) for p in error.get("loc", ()) if isinstance(p, str)), "")
        label = phrase(request, f"editors.field.{where}") if where in _FIELD_LABELS else where
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        out.append(f"{label}: {message}" if label else message)
    return out


_FIELD_LABELS = {"slug", "language", "title", "questions", "body", "category", "tags", "status"}
