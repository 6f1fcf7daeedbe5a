"""The admins' page for canned responses: list, add, edit and delete (plain forms, no script needed)."""

from __future__ import annotations

from aiohttp import web

from core.db import transaction
from core.errors import FrontlineError
from core.web.keys import SESSIONS
from core.web.routes import Access, Routes, match_int
from core.web.staff import staff_page
from handoff import canned
from handoff.models import CannedResponse

routes = Routes("canned-pages")


async def _page(
    request: web.Request, status: int = 200, error: str | None = None, form: dict[str, str] | None = None
) -> web.Response:
    async with transaction(request.config_dict[SESSIONS]) as session:
        rows = await canned.all_responses(session)
    return await staff_page(
        request,
        "canned.html",
        status=status,
        rows=rows,
        error=error,
        form=form or {},
        placeholders=canned.PLACEHOLDERS,
        languages=canned.LANGUAGES,
    )


@routes.get("/inbox/canned", access=Access.ADMIN, html=True)
async def canned_page(request: web.Request) -> web.StreamResponse:
    """Canned responses: every shortcut in both languages, and the form to add or change one."""
    edit = request.query.get("edit", "")
    form: dict[str, str] = {}
    if edit.isdigit():
        async with transaction(request.config_dict[SESSIONS]) as session:
            row = await session.get(CannedResponse, int(edit))
        if row is not None:
            form = {
                "id": str(row.id),
                "shortcut": row.shortcut,
                "language": row.language,
                "title": row.title,
                "body": row.body,
            }
    return await _page(request, form=form)


@routes.post("/inbox/canned", access=Access.ADMIN, html=True)
async def canned_save(request: web.Request) -> web.StreamResponse:
    """Add a canned response, or change one (``id`` in the form); a bad one is shown back with the reason."""
    data = await request.post()
    form = {k: str(data.get(k, ""))[:4000] for k in ("id", "shortcut", "language", "title", "body")}
    try:
        async with transaction(request.config_dict[SESSIONS]) as session:
            await canned.save(
                session,
                shortcut=form["shortcut"],
                language=form["language"],
                title=form["title"],
                body=form["body"],
                canned_id=int(form["id"]) if form["id"].isdigit() else None,
            )
    except FrontlineError as exc:
        details = getattr(exc, "details", {}) or {}
        reason = str(exc) + (f": {', '.join(details['unknown'])}" if "unknown" in details else "")
        return await _page(request, status=exc.status, error=reason, form=form)
    raise web.HTTPSeeOther("/inbox/canned")


@routes.post("/inbox/canned/{id}/delete", access=Access.ADMIN, html=True)
async def canned_delete(request: web.Request) -> web.StreamResponse:
    """Delete a canned response."""
    async with transaction(request.config_dict[SESSIONS]) as session:
        await canned.delete(session, match_int(request, "id"))
    raise web.HTTPSeeOther("/inbox/canned")
