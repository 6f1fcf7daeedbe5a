"""The editors' pages under ``/kb`` (editor and admin roles): articles, the editor, revisions, "what would the bot
say", gaps, import/export and calibration.

Server-rendered and complete without JavaScript: every action is a plain form (CSRF field) that posts here and
redirects or re-renders. The editors script only enhances: the live Markdown preview (``POST /kb/render``) and
the "what would the bot say" check with the form's unsaved text (``POST /kb/ask``). Pages are served with a
Content-Security-Policy that allows images from this site only, so an article's external image is never
fetched while an editor previews it (the preview also shows such images as a placeholder).

One module per page: ``listing``, ``editor``, ``previews``, ``revisions``, ``ask``, ``gaps``, ``transfer``;
``common`` holds what they share. Importing a page module registers its routes.
"""

from __future__ import annotations

from aiohttp import web

from core.web.keys import NAV
from core.web.pages import NavItem
from core.web.routes import Access
from kb.editors import ask, editor, gaps, listing, previews, revisions, transfer
from kb.editors.common import PAGES_DIR, entry, routes, security_headers

__all__ = ["PAGES_DIR", "register"]
_PAGES = (ask, editor, gaps, listing, previews, revisions, transfer)  # imported for their routes


@entry.get("/kb", access=Access.EDITOR, html=True)
async def kb_entry(request: web.Request) -> web.StreamResponse:
    """The editors' pages."""
    raise web.HTTPFound("/kb/")


def register(app: web.Application) -> None:
    """Mount the editors' pages at ``/kb`` on the root application."""
    entry.register(app)
    app[NAV].append(NavItem("editors.nav", "/kb/", Access.EDITOR))
    pages = web.Application(middlewares=[security_headers])
    routes.register(pages)
    app.add_subapp("/kb", pages)
