"""The published articles the help center shows, held in memory by each worker.

A public help center is read far more than it is written — by readers and by crawlers — so its pages do
not query the database: :class:`Library` loads every published article at start, follows
``ARTICLE_CHANGED`` on the event bus (an edit saved on any worker reaches every worker's pages within a
second) and compares versions with the database once a minute to catch an event a worker missed — the
same arrangement as the knowledge base's search index. (On SQLite every transaction, reads included,
takes the write lock; a query per page made article pages queue behind each other under load.)

Only published articles are ever held: drafts and archived articles do not exist for the public.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from core.db import SessionFactory, transaction
from core.events import ARTICLE_CHANGED, Event, EventBus
from core.templates import LANGUAGES
from kb.markdown import render_html, render_plain
from kb.models import Article, ArticleStatus

__all__ = [
    "CATEGORY",
    "HOME_PER_CATEGORY",
    "SLUG",
    "ArticleLink",
    "Category",
    "Library",
    "PublicArticle",
    "SitemapEntry",
    "description",
]

log = logging.getLogger(__name__)

HOME_PER_CATEGORY = 6
"""Titles the start page lists per category; the category page lists all of them."""
DESCRIPTION_CHARS = 160
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,119}$")
CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True, slots=True)
class ArticleLink:
    slug: str
    title: str
    category: str


@dataclass(frozen=True, slots=True)
class Category:
    key: str
    articles: tuple[ArticleLink, ...]

    @property
    def count(self) -> int:
        return len(self.articles)


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    slug: str
    language: str
    updated_at: datetime
    languages: tuple[str, ...]  # every published translation, this one included


@dataclass(slots=True)
class PublicArticle:
    id: int
    slug: str
    language: str
    title: str
    body: str
    category: str
    updated_at: datetime
    version: int
    _html: str | None = field(default=None, repr=False)
    _description: str | None = field(default=None, repr=False)

    @property
    def html(self) -> str:
        """The body as safe HTML, rendered once per version."""
        if self._html is None:
            self._html = render_html(self.body)
        return self._html

    @property
    def description(self) -> str:
        """The meta description, made once per version."""
        if self._description is None:
            self._description = description(self.body)
        return self._description

    @property
    def link(self) -> ArticleLink:
        return ArticleLink(self.slug, self.title, self.category)


def _public(article: Article) -> PublicArticle:
    return PublicArticle(
        id=article.id,
        slug=article.slug,
        language=article.language,
        title=article.title,
        body=article.body,
        category=article.category or "",
        updated_at=article.updated_at,
        version=article.version,
    )


class Library:
    def __init__(self, sessions: SessionFactory, bus: EventBus) -> None:
        self.sessions = sessions
        self.bus = bus
        self._by_id: dict[int, PublicArticle] = {}
        self._by_key: dict[tuple[str, str], PublicArticle] = {}  # (language, slug)
        self._groups: dict[tuple[str, str | None], list[Category]] = {}  # by_category's answers until a change
        self._lock = asyncio.Lock()

    # --- keeping up with the database ------------------------------------------------------------

    async def start(self) -> None:
        self.bus.subscribe(self._on_changed, ARTICLE_CHANGED)
        await self.resync()

    async def resync(self) -> int:
        """Reload every article whose published version differs from the one held; returns how many."""
        async with transaction(self.sessions) as session:
            rows = await session.execute(
                select(Article.id, Article.version).where(Article.status == ArticleStatus.PUBLISHED)
            )
            current = {article_id: version for article_id, version in rows.all()}
        stale = [i for i, v in current.items() if (held := self._by_id.get(i)) is None or held.version != v]
        stale += [i for i in self._by_id if i not in current]
        if stale:
            await self.refresh(stale)
        return len(stale)

    async def refresh(self, article_ids: Iterable[int]) -> None:
        """Reload these articles: published ones in, anything else (archived, draft, deleted) out."""
        ids = sorted(set(article_ids))
        async with self._lock:
            async with transaction(self.sessions) as session:
                found = {
                    a.id: a
                    for a in (await session.execute(select(Article).where(Article.id.in_(ids)))).scalars()
                    if a.status is ArticleStatus.PUBLISHED
                }
            self._groups.clear()
            for article_id in ids:
                self._drop(article_id)
                if article_id in found:
                    article = _public(found[article_id])
                    self._by_id[article.id] = article
                    self._by_key[(article.language, article.slug)] = article

    def _drop(self, article_id: int) -> None:
        held = self._by_id.pop(article_id, None)
        if held is not None and self._by_key.get((held.language, held.slug)) is held:
            del self._by_key[(held.language, held.slug)]

    async def _on_changed(self, event: Event) -> None:
        article_id = event.data.get("article_id")
        if isinstance(article_id, int):
            await self.refresh([article_id])

    # --- what the pages read ---------------------------------------------------------------------

    @property
    def size(self) -> int:
        return len(self._by_id)

    def get(self, article_id: int) -> PublicArticle | None:
        return self._by_id.get(article_id)

    def article(self, language: str, slug: str) -> PublicArticle | None:
        """The published article ``slug`` in ``language``; None for anything else (also for malformed slugs)."""
        return self._by_key.get((language, slug)) if SLUG.match(slug) else None

    def translations(self, slug: str) -> list[str]:
        """The languages ``slug`` is published in."""
        return [language for language in LANGUAGES if (language, slug) in self._by_key]

    def by_category(self, language: str, category: str | None = None) -> list[Category]:
        """Published articles of ``language`` grouped by category (categories and titles in alphabetical order)."""
        cached = self._groups.get((language, category))
        if cached is None:
            cached = self._groups[(language, category)] = self._group(language, category)
        return cached

    def _group(self, language: str, category: str | None) -> list[Category]:
        chosen = sorted(
            (a for a in self._by_id.values() if a.language == language and category in (None, a.category)),
            key=lambda a: (a.category, a.title.casefold()),
        )
        groups: dict[str, list[ArticleLink]] = {}
        for article in chosen:
            groups.setdefault(article.category, []).append(article.link)
        return [Category(key, tuple(links)) for key, links in groups.items()]

    def sitemap(self) -> list[SitemapEntry]:
        """Every published article in every language, with its translations (hreflang in the sitemap)."""
        chosen = sorted(
            (a for a in self._by_id.values() if a.language in LANGUAGES), key=lambda a: (a.slug, a.language)
        )
        return [SitemapEntry(a.slug, a.language, a.updated_at, tuple(self.translations(a.slug))) for a in chosen]


def description(body: str, limit: int = DESCRIPTION_CHARS) -> str:
    """The first words of an article as plain text, cut at a word: the meta and Open Graph description."""
    text = " ".join(render_plain(body).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,.;:—-")
    return f"{cut}…"
