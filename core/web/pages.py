"""Server-rendered pages: Jinja2 HTML (autoescaped) with texts from the ru/en templates.

Every page extends ``base.html`` (public pages) or ``staff.html`` (the staff top bar with the sections the
signed-in role may open). Scripts and styles come from the front-end build (``frontend/dist``, made by
``make``) through :class:`Assets`, never inline, so the Content-Security-Policy can forbid inline code.
Packages put their page templates in their own ``pages/`` folder and name it to :func:`create_pages`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from core.models import Operator
from core.templates import Templates
from core.web.keys import ASSETS, NAV, PAGES, TEMPLATES
from core.web.routes import ACCESS_RANK, ROLE_RANK, Access

log = logging.getLogger(__name__)
STATIC_PREFIX = "/static"


@dataclass(frozen=True, slots=True)
class NavItem:
    """A section in the staff top bar: shown to roles that may open it, marked current under its path."""

    label_key: str
    path: str
    access: Access

    def allows(self, operator: Operator) -> bool:
        return ROLE_RANK[operator.role.value] >= ACCESS_RANK[self.access]


class Assets:
    """URLs of built front-end files with a content hash, so a new build is never served from a stale cache."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._versions: dict[str, str] = {}
        if not directory.is_dir():
            log.warning("front-end build not found; pages work without scripts", extra={"dir": str(directory)})
            return
        for path in directory.iterdir():
            if path.is_file() and not path.name.startswith(".") and not path.name.endswith(".map"):
                self._versions[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]

    def __contains__(self, name: str) -> bool:
        return name in self._versions

    def url(self, name: str) -> str:
        version = self._versions.get(name)
        return f"{STATIC_PREFIX}/{name}?v={version}" if version else f"{STATIC_PREFIX}/{name}"

    def register(self, app: web.Application) -> None:
        if self.directory.is_dir():
            app.router.add_static(STATIC_PREFIX, self.directory, append_version=False)


def create_pages(*directories: Path) -> Environment:
    own = Path(__file__).parent / "pages"
    loader = ChoiceLoader([FileSystemLoader(str(d)) for d in (own, *directories)])
    return Environment(loader=loader, autoescape=select_autoescape(["html"]), auto_reload=False)


def page_language(request: web.Request, templates: Templates) -> str:
    wanted = request.query.get("lang") or request.cookies.get("lang")
    if wanted in ("ru", "en"):
        return wanted
    accept = request.headers.get("Accept-Language", "")
    if accept.lower().startswith("en"):
        return "en"
    return templates.default_language


def nav_for(request: web.Request, operator: Operator | None) -> Sequence[dict[str, Any]]:
    if operator is None:
        return []
    items = [item for item in request.config_dict.get(NAV, []) if item.allows(operator)]
    # The longest matching path is current: /inbox/tickets is "Tickets", not also "Inbox".
    matching = [item.path for item in items if request.path.startswith(item.path)]
    current = max(matching, key=len) if matching else None
    return [{"label_key": item.label_key, "path": item.path, "current": item.path == current} for item in items]


def render_html(request: web.Request, name: str, **context: Any) -> str:
    """A page's HTML; ``language`` and ``operator`` in ``context`` are honoured, the rest passed through."""
    templates = request.config_dict[TEMPLATES]
    language = str(context.pop("language", None) or page_language(request, templates))
    operator = context.get("operator")

    def t(key: str, **params: Any) -> str:
        return templates.render(key, language, **params)

    def has(key: str) -> bool:
        """Whether a text exists: a page can word a known value and show an unforeseen one as it is."""
        return key in templates.keys(language)

    assets: Assets | None = request.config_dict.get(ASSETS)
    return (
        request.config_dict[PAGES]
        .get_template(name)
        .render(
            t=t,
            has=has,
            language=language,
            asset=assets.url if assets is not None else (lambda n: f"{STATIC_PREFIX}/{n}"),
            nav=nav_for(request, operator if isinstance(operator, Operator) else None),
            **context,
        )
    )


def render_page(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    return web.Response(text=render_html(request, name, **context), status=status, content_type="text/html")
