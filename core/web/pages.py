"""Server-rendered staff pages: Jinja2 HTML (autoescaped) with texts from the ru/en templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from core.templates import Templates
from core.web.keys import TEMPLATES

PAGES = web.AppKey("pages", Environment)


def create_pages(*directories: Path) -> Environment:
    loader = ChoiceLoader([FileSystemLoader(str(d)) for d in (Path(__file__).parent / "pages", *directories)])
    return Environment(loader=loader, autoescape=select_autoescape(["html"]), auto_reload=False)


def page_language(request: web.Request, templates: Templates) -> str:
    wanted = request.query.get("lang") or request.cookies.get("lang")
    if wanted in ("ru", "en"):
        return wanted
    accept = request.headers.get("Accept-Language", "")
    if accept.lower().startswith("en"):
        return "en"
    return templates.default_language


def render_page(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    templates = request.config_dict[TEMPLATES]
    language = str(context.pop("language", None) or page_language(request, templates))

    def t(key: str, **params: Any) -> str:
        return templates.render(key, language, **params)

    html = request.config_dict[PAGES].get_template(name).render(t=t, language=language, **context)
    return web.Response(text=html, status=status, content_type="text/html")
