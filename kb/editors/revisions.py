"""An article's revisions, their diffs and restoring one."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from core.db import transaction
from core.models import Operator
from core.web.auth import current_operator
from core.web.keys import SESSIONS
from core.web.routes import Access, match_int, unit_of_work
from kb import articles, diffs
from kb.editors.common import kb_of, page, routes
from kb.models import ArticleRevision


async def _authors(request: web.Request, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    async with transaction(request.config_dict[SESSIONS]) as session:
        rows = await session.execute(select(Operator.id, Operator.name, Operator.login).where(Operator.id.in_(ids)))
        return {int(i): str(name or login) for i, name, login in rows}


def _pick(revisions: list[ArticleRevision], raw: str | None, default: int) -> ArticleRevision | None:
    if not revisions:
        return None
    if raw and raw.isdigit():
        found = next((r for r in revisions if r.id == int(raw)), None)
        if found is not None:
            return found
    return revisions[min(default, len(revisions) - 1)]


@routes.get("/articles/{id}/revisions", access=Access.EDITOR, html=True)
async def revisions_page(request: web.Request) -> web.Response:
    """History with author and time, a diff between any two revisions (``?a=&b=``), restore."""
    article_id = match_int(request, "id")
    async with transaction(request.config_dict[SESSIONS]) as session:
        article = await articles.get_article(session, article_id)
        revisions = await articles.list_revisions(session, article_id)
    new = _pick(revisions, request.query.get("b"), 0)
    old = _pick(revisions, request.query.get("a"), 1)
    if old is not None and new is not None and old.version > new.version:
        old, new = new, old
    changes = diffs.diff_revisions(old, new) if old is not None and new is not None and old is not new else []
    authors = await _authors(request, {r.author_id for r in revisions if r.author_id is not None})
    return await page(
        request,
        "kb_revisions.html",
        article=article,
        revisions=revisions,
        authors=authors,
        old=old,
        new=new,
        changes=[c for c in changes if c.changed],
        restored=request.query.get("restored"),
    )


@routes.post("/articles/{id}/revisions/{revision_id}/restore", access=Access.EDITOR, html=True)
async def restore_revision(request: web.Request) -> web.StreamResponse:
    """Bring an old revision's content back as a new save."""
    article_id = match_int(request, "id")
    revision_id = match_int(request, "revision_id")
    form = await request.post()
    raw = form.get("version")
    expected = int(raw) if isinstance(raw, str) and raw.isdigit() else None
    async with unit_of_work(request) as uow:
        article = await articles.restore_revision(uow, article_id, revision_id, current_operator(request).id, expected)
        version = article.version
    await kb_of(request).refresh([article_id])
    raise web.HTTPSeeOther(f"/kb/articles/{article_id}/revisions?restored={version}")
