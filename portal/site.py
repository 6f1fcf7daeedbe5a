"""What every public page shares: the site's settings, page rendering, language, links and error pages.

Errors on public pages are pages in the site's look with the right status (404 for an unknown slug or
language, 409 for replying to a closed ticket, 422 for a bad form), never a stack trace or a JSON body —
unless the caller asked for JSON (the pages' scripts do).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from core.errors import FrontlineError
from core.templates import LANGUAGES, TemplateError
from core.web.errors import error_response, wants_json
from core.web.keys import SETTINGS, TEMPLATES
from core.web.pages import page_language, render_page
from portal.catalog import Catalog
from portal.keys import PAGE_LANGUAGE, SITE

__all__ = [
    "PORTAL_CHAT_TEXT",
    "PageError",
    "Site",
    "absolute",
    "chat",
    "error_page",
    "help_language",
    "language_switch",
    "negotiated_language",
    "page_errors",
    "quoted",
    "render",
]

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PORTAL_CHAT_TEXT = "portal.chat_text"
"""The template of what a customer writes to the bot for a portal link ("мои заявки на сайте")."""
LANGUAGE_NAMES = {"ru": "Русский", "en": "English"}  # each language's own name, the same on every page


@dataclass(frozen=True)
class Site:
    catalog: Catalog
    telegram_url: str | None  # https://t.me/<bot username>; None when the username is not configured
    widget_site: str | None  # the web-chat site key, when the widget is served here and configured


class PageError(Exception):
    """A page-level refusal: the status and the template key of the sentence that explains it."""

    def __init__(self, status: int, key: str, **params: Any) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.params = params


def help_language(request: web.Request) -> str | None:
    """The language in the URL (``/help/<lang>/…``) when it is one the site speaks."""
    value = request.match_info.get("lang")
    return value if value in LANGUAGES else None


def negotiated_language(request: web.Request) -> str:
    """The language for a page whose URL names none: set by the handler, else ?lang, cookie, Accept-Language."""
    chosen = request.get(PAGE_LANGUAGE)
    if isinstance(chosen, str):
        return chosen
    return help_language(request) or page_language(request, request.config_dict[TEMPLATES])


def absolute(request: web.Request, path: str) -> str:
    """An absolute URL on this site (canonical links, Open Graph, the sitemap): FRONTLINE_PUBLIC_URL first."""
    base = request.config_dict[SETTINGS].public_url.rstrip("/") or f"{request.scheme}://{request.host}"
    return f"{base}{path}"


def chat(site: Site, language: str, text: str) -> dict[str, Any]:
    """The "chat with us" button: the widget opened with ``text`` when the page has it, else the Telegram bot."""
    return {
        "telegram": site.telegram_url,
        "widget": site.widget_site is not None,
        "text": " ".join(text.split())[:300],
        "shown": site.telegram_url is not None or site.widget_site is not None,
    }


def language_switch(language: str, urls: dict[str, str]) -> list[dict[str, Any]]:
    """Links to this page in the other languages (``urls``: language → URL)."""
    return [
        {"language": other, "label": LANGUAGE_NAMES[other], "url": url}
        for other, url in urls.items()
        if other != language and other in LANGUAGE_NAMES
    ]


def render(request: web.Request, name: str, *, language: str, status: int = 200, **context: Any) -> web.Response:
    site = request.config_dict[SITE]
    context.setdefault("chat", chat(site, language, ""))
    context.setdefault("switch", language_switch(language, {lang: f"/help/{lang}/" for lang in LANGUAGES}))
    context.setdefault("widget_site", site.widget_site)
    response = render_page(request, name, status=status, language=language, **context)
    response.headers["Content-Language"] = language
    return response


def error_page(request: web.Request, status: int, key: str, language: str | None = None, **params: Any) -> web.Response:
    language = language or negotiated_language(request)
    templates = request.config_dict[TEMPLATES]
    try:
        message = templates.render(key, language, **params)
    except TemplateError:
        log.warning("no text for a page error", extra={"key": key})
        message = templates.render("site.error.generic", language)
    title = templates.render(f"site.error.title.{status}" if status in _TITLED else "site.error.title.other", language)
    return render(
        request,
        "public_error.html",
        language=language,
        status=status,
        title=title,
        page_title=title,
        noindex=True,
        message=message,
        chat=chat(request.config_dict[SITE], language, ""),
    )


_TITLED = frozenset({400, 401, 403, 404, 405, 409, 410, 422})
_CODES = {"not_found": 404, "conflict": 409, "invalid_input": 422, "forbidden": 403, "unauthorized": 401}


@web.middleware
async def page_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refusals of the public pages as pages (or as the house's JSON error when JSON was asked for)."""
    try:
        return await handler(request)
    except PageError as exc:
        if wants_json(request):
            return error_response(exc.status, exc.key.rsplit(".", 1)[-1], exc.key)
        return error_page(request, exc.status, exc.key, **exc.params)
    except FrontlineError as exc:
        if wants_json(request):
            raise
        status = _CODES.get(exc.code, exc.status)
        return error_page(request, status, f"site.error.{exc.code}")
    except web.HTTPException as exc:
        if exc.status < 400 or wants_json(request):
            raise
        return error_page(request, exc.status, "site.error.not_found" if exc.status == 404 else "site.error.generic")


def quoted(text: str) -> str:
    """``text`` for a query string."""
    return quote(text, safe="")
