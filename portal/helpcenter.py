"""What the help center reads: published articles by language, category and slug, their translations.

Only published articles are ever returned; drafts and archived articles do not exist for the public.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.templates import LANGUAGES
from kb.markdown import render_plain
from kb.models import Article, ArticleStatus

__all__ = [
    "HOME_PER_CATEGORY",
    "ArticleLink",
    "Category",
    "SitemapEntry",
    "article",
    "by_category",
    "description",
    "sitemap",
    "translations",
]

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


def _published(language: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (Article.status == ArticleStatus.PUBLISHED, Article.language == language)


async def by_category(session: AsyncSession, language: str, category: str | None = None) -> list[Category]:
    """Published articles of ``language`` grouped by category (categories and titles in alphabetical order)."""
    stmt = select(Article.slug, Article.title, Article.category).where(*_published(language))
    if category is not None:
        stmt = stmt.where(Article.category == category)
    rows = (await session.execute(stmt.order_by(Article.category, Article.title))).all()
    groups: dict[str, list[ArticleLink]] = {}
    for slug, title, key in rows:
        groups.setdefault(key or "", []).append(ArticleLink(slug, title, key or ""))
    return [Category(key, tuple(links)) for key, links in groups.items()]


async def article(session: AsyncSession, language: str, slug: str) -> Article | None:
    """The published article ``slug`` in ``language``; None for anything else (also for malformed slugs)."""
    if not SLUG.match(slug):
        return None
    stmt = select(Article).where(*_published(language), Article.slug == slug)
    return (await session.execute(stmt)).scalar_one_or_none()


async def translations(session: AsyncSession, slug: str) -> list[str]:
    """The languages ``slug`` is published in."""
    stmt = select(Article.language).where(Article.status == ArticleStatus.PUBLISHED, Article.slug == slug)
    found = set((await session.execute(stmt)).scalars())
    return [language for language in LANGUAGES if language in found]


async def sitemap(session: AsyncSession) -> list[SitemapEntry]:
    """Every published article in every language, with its translations (for hreflang in the sitemap)."""
    stmt = (
        select(Article.slug, Article.language, Article.updated_at)
        .where(Article.status == ArticleStatus.PUBLISHED, Article.language.in_(LANGUAGES))
        .order_by(Article.slug, Article.language)
    )
    rows = (await session.execute(stmt)).all()
    languages: dict[str, list[str]] = {}
    for slug, language, _updated in rows:
        languages.setdefault(slug, []).append(language)
    return [SitemapEntry(slug, language, updated, tuple(languages[slug])) for slug, language, updated in rows]


def description(body: str, limit: int = DESCRIPTION_CHARS) -> str:
    """The first words of an article as plain text, cut at a word: the meta and Open Graph description."""
    text = " ".join(render_plain(body).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,.;:—-")
    return f"{cut}…"
