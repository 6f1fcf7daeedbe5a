"""Gaps: the questions the bot could not answer, turned into question variants or drafts, or dismissed."""

from __future__ import annotations

from aiohttp import web

from core.db import transaction
from core.errors import InvalidInput
from core.web.auth import current_operator
from core.web.keys import SESSIONS
from core.web.routes import Access, unit_of_work
from kb import articles, gaps
from kb.editors.common import LANGUAGES, kb_of, page, routes
from kb.models import ArticleStatus
from kb.search.index import Band

ANSWERED_CHECKS = 50
"""Groups (largest first) checked against the published knowledge base when the gaps page opens."""


def _ids(value: object) -> list[int]:
    text = value if isinstance(value, str) else ""
    ids = [int(p) for p in text.split(",") if p.strip().isdigit()]
    if not ids or len(ids) > 5000:
        raise InvalidInput("no gaps chosen")
    return ids


@routes.get("/gaps", access=Access.EDITOR, html=True)
async def gaps_page(request: web.Request) -> web.Response:
    """Questions the bot could not answer (or that customers marked not helpful), grouped by similarity."""
    raw_days = request.query.get("days", "30")
    days = min(max(int(raw_days), 1), 365) if raw_days.isdigit() else 30
    language = request.query.get("language", "")
    language = language if language in LANGUAGES else ""
    kb = kb_of(request)
    groups, total = await gaps.group_gaps(
        request.config_dict[SESSIONS], kb.embedder, days=days, language=language or None
    )
    async with transaction(request.config_dict[SESSIONS]) as session:
        every = await articles.all_articles(session)
        members = {g.gap_ids[0]: await gaps.gaps_of(session, g.gap_ids[:50]) for g in groups}
    choices = sorted(
        (a for a in every if a.status is not ArticleStatus.ARCHIVED), key=lambda a: (a.language, a.title.casefold())
    )
    # A group the bot answers by now (an article was published or changed since) only needs dismissing.
    answered: dict[int, str] = {}
    for group in groups[:ANSWERED_CHECKS]:
        hits = await kb.search(group.text, group.language, 1, count_view=False)
        if hits and hits[0].band is Band.ANSWER:
            answered[group.gap_ids[0]] = hits[0].title
    return await page(
        request,
        "kb_gaps.html",
        groups=groups,
        members=members,
        total=total,
        days=days,
        lang_filter=language,
        languages=LANGUAGES,
        choices=choices,
        answered=answered,
        done=request.query.get("done", ""),
        article_id=request.query.get("article", ""),
    )


@routes.post("/gaps/variant", access=Access.EDITOR, html=True)
async def gaps_to_variant(request: web.Request) -> web.StreamResponse:
    """Add a group's questions to an article's question variants: the bot answers them from then on."""
    form = await request.post()
    gap_ids = _ids(form.get("gap_ids"))
    raw = form.get("article_id")
    if not isinstance(raw, str) or not raw.isdigit():
        raise InvalidInput("choose an article")
    async with unit_of_work(request) as uow:
        article = await gaps.add_as_variant(uow, gap_ids, int(raw), None, current_operator(request).id)
        article_id = article.id
    await kb_of(request).refresh([article_id])
    raise web.HTTPSeeOther(f"/kb/gaps?done=variant&article={article_id}")


@routes.post("/gaps/draft", access=Access.EDITOR, html=True)
async def gaps_to_draft(request: web.Request) -> web.StreamResponse:
    """A draft article from a group: its questions are the customers' words."""
    form = await request.post()
    gap_ids = _ids(form.get("gap_ids"))
    async with unit_of_work(request) as uow:
        article = await gaps.convert_gaps(uow, gap_ids, current_operator(request).id, None)
        article_id = article.id
    raise web.HTTPSeeOther(f"/kb/articles/{article_id}?saved=1")


@routes.post("/gaps/dismiss", access=Access.EDITOR, html=True)
async def gaps_dismiss(request: web.Request) -> web.StreamResponse:
    """Dismiss a group (noise, or answered already)."""
    form = await request.post()
    gap_ids = _ids(form.get("gap_ids"))
    async with transaction(request.config_dict[SESSIONS]) as session:
        await gaps.dismiss_gaps(session, gap_ids)
    raise web.HTTPSeeOther("/kb/gaps?done=dismissed")
