"""The article list: search, filters, sorting, and the answers served and votes over a period."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web

from core.db import transaction
from core.models import utcnow
from core.web.keys import SESSIONS
from core.web.routes import Access
from kb import articles
from kb.editors.common import LANGUAGES, choice, page, routes
from kb.models import Article, ArticleStatus

SORTS = ("updated", "title", "served", "helpful", "not_helpful")
HELPFULNESS = ("", "unhelpful", "helpful", "unrated")
PERIODS = ("7", "30", "90", "all")


@dataclass(frozen=True, slots=True)
class Row:
    """An article in the list with its counts over the chosen period."""

    article: Article
    served: int
    helpful: int
    not_helpful: int


def _helpfulness(row: Row, wanted: str) -> bool:
    if wanted == "unhelpful":
        return row.not_helpful > row.helpful
    if wanted == "helpful":
        return row.helpful > 0 and row.helpful >= row.not_helpful
    if wanted == "unrated":
        return row.helpful == 0 and row.not_helpful == 0
    return True


def _sort_key(sort: str) -> Callable[[Row], Any]:
    keys: dict[str, Callable[[Row], Any]] = {
        "title": lambda r: r.article.title.casefold(),
        "served": lambda r: -r.served,
        "helpful": lambda r: -r.helpful,
        "not_helpful": lambda r: -r.not_helpful,
    }
    return keys.get(sort, lambda r: -r.article.updated_at.timestamp())


@routes.get("/", access=Access.EDITOR, html=True)
async def article_list(request: web.Request) -> web.Response:
    """Articles with search, filters (status, language, category, tag, helpfulness), sorting and the answers
    served and votes over a period (``all``: the all-time totals)."""
    text = request.query.get("q", "").strip()[:200]
    filters = {
        "status": choice(request, "status", [s.value for s in ArticleStatus]),
        "language": choice(request, "language", LANGUAGES),
        "category": request.query.get("category", "")[:64],
        "tag": request.query.get("tag", "")[:64],
        "helpfulness": choice(request, "helpfulness", HELPFULNESS),
        "sort": choice(request, "sort", SORTS, "updated"),
        "period": choice(request, "period", PERIODS, "30"),
    }
    since = None if filters["period"] == "all" else utcnow() - timedelta(days=int(filters["period"]))
    async with transaction(request.config_dict[SESSIONS]) as session:
        everything = await articles.all_articles(session)
        counts = await articles.event_counts(session, since) if since is not None else {}
    categories = sorted({a.category for a in everything if a.category})
    tags = sorted({str(t) for a in everything for t in a.tags})
    needle = text.casefold()

    def row(a: Article) -> Row:
        if since is None:
            return Row(a, a.views, a.helpful, a.not_helpful)
        own = counts.get(a.id, {})
        return Row(a, own.get("served", 0), own.get("helpful", 0), own.get("not_helpful", 0))

    shown = [
        r
        for r in map(row, everything)
        if (not filters["status"] or r.article.status.value == filters["status"])
        and (not filters["language"] or r.article.language == filters["language"])
        and (not filters["category"] or r.article.category == filters["category"])
        and (not filters["tag"] or filters["tag"] in r.article.tags)
        and _helpfulness(r, filters["helpfulness"])
        and (not needle or articles.matches(r.article, needle))
    ]
    shown.sort(key=_sort_key(filters["sort"]))
    return await page(
        request,
        "kb_list.html",
        rows=shown,
        total=len(everything),
        q=text,
        filters=filters,
        categories=categories,
        tags=tags,
        sorts=SORTS,
        periods=PERIODS,
        statuses=[s.value for s in ArticleStatus],
        languages=LANGUAGES,
        helpfulness=HELPFULNESS,
    )
