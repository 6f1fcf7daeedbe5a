"""Editing articles: create, update with optimistic concurrency, publish/archive, revisions, import, listing.

Every save writes a revision and emits ``ARTICLE_CHANGED`` through the unit of work (published after commit),
which is how every worker's search index learns about the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from core.errors import Conflict, InvalidInput, NotFound
from core.events import ARTICLE_CHANGED, Event
from core.models import utcnow
from core.uow import UnitOfWork
from kb.models import Article, ArticleEvent, ArticleEventKind, ArticleRevision, ArticleStatus
from kb.schemas import ArticleContent, ArticleQuery, ArticleUpdate, Language

CONTENT_FIELDS = ("slug", "language", "title", "questions", "body", "category", "tags")


def content_of(article: Article) -> ArticleContent:
    # Validated when it was stored; constructing skips validating it again on every comparison.
    return ArticleContent.model_construct(
        slug=article.slug,
        language=cast(Language, article.language),
        title=article.title,
        questions=tuple(article.questions),
        body=article.body,
        category=article.category,
        tags=tuple(article.tags),
        status=article.status,
    )


def changed_event(article: Article) -> Event:
    return Event(
        name=ARTICLE_CHANGED,
        data={
            "article_id": article.id,
            "version": article.version,
            "status": article.status.value,
            "slug": article.slug,
            "language": article.language,
        },
    )


async def get_article(session: AsyncSession, article_id: int, *, for_update: bool = False) -> Article:
    statement = select(Article).where(Article.id == article_id)
    if for_update:
        statement = statement.with_for_update()
    article = (await session.execute(statement)).scalar_one_or_none()
    if article is None:
        raise NotFound(f"article {article_id} does not exist")
    return article


async def translations(session: AsyncSession, article: Article) -> list[Article]:
    rows = await session.execute(
        select(Article).where(Article.slug == article.slug, Article.id != article.id).order_by(Article.language)
    )
    return list(rows.scalars())


def _check_version(article: Article, expected: int | None) -> None:
    if expected is not None and article.version != expected:
        raise Conflict(
            f"the article was changed by someone else (version {article.version}, you edited {expected}); "
            "reload it and apply your changes again",
            current_version=article.version,
        )


async def _save(uow: UnitOfWork, article: Article, author_id: int | None, note: str) -> Article:
    """Flush (the version check happens here), write the revision, emit the change."""
    session = uow.session
    article.updated_at = utcnow()
    try:
        await session.flush()
    except StaleDataError:
        raise Conflict("the article was changed by someone else at the same time; reload it") from None
    except IntegrityError:
        raise Conflict(f"an article {article.slug!r} in {article.language!r} already exists") from None
    session.add(
        ArticleRevision(
            article_id=article.id,
            version=article.version,
            title=article.title,
            questions=list(article.questions),
            body=article.body,
            category=article.category,
            tags=list(article.tags),
            status=article.status,
            author_id=author_id,
            note=note[:200],
        )
    )
    try:
        await session.flush()
    except IntegrityError:
        # Two saves of one article raced past the version check (SQLite serialises writers, PostgreSQL's
        # row lock does; this is the last line): the revision number is taken.
        raise Conflict("the article was changed by someone else at the same time; reload it") from None
    uow.emit(changed_event(article))
    return article


def _apply_status(article: Article, status: ArticleStatus) -> None:
    if status is ArticleStatus.PUBLISHED and article.status is not ArticleStatus.PUBLISHED:
        article.published_at = utcnow()
    article.status = status


async def create_article(
    uow: UnitOfWork, content: ArticleContent, author_id: int | None, note: str = "created"
) -> Article:
    article = Article(
        slug=content.slug,
        language=content.language,
        title=content.title,
        questions=list(content.questions),
        body=content.body,
        category=content.category,
        tags=list(content.tags),
        status=ArticleStatus.DRAFT,
        author_id=author_id,
    )
    _apply_status(article, content.status)
    uow.session.add(article)
    return await _save(uow, article, author_id, note)


async def update_article(uow: UnitOfWork, article_id: int, changes: ArticleUpdate, author_id: int | None) -> Article:
    article = await get_article(uow.session, article_id, for_update=True)
    _check_version(article, changes.version)
    merged = content_of(article).model_dump()
    merged.update(changes.model_dump(exclude_unset=True, exclude={"version", "note"}))
    try:
        content = ArticleContent.model_validate(merged)  # the same cleaning as create and import
    except ValidationError as exc:
        raise InvalidInput(
            "the changed article is not valid",
            errors=exc.errors(include_url=False, include_context=False, include_input=False),
        ) from None
    for field in CONTENT_FIELDS:
        value = getattr(content, field)
        setattr(article, field, list(value) if isinstance(value, tuple) else value)
    return await _save(uow, article, author_id, changes.note or "edited")


async def set_status(
    uow: UnitOfWork, article_id: int, status: ArticleStatus, author_id: int | None, expected_version: int | None
) -> Article:
    article = await get_article(uow.session, article_id, for_update=True)
    _check_version(article, expected_version)
    if article.status is status:
        return article
    _apply_status(article, status)
    return await _save(uow, article, author_id, status.value)


async def restore_revision(
    uow: UnitOfWork, article_id: int, revision_id: int, author_id: int | None, expected_version: int | None
) -> Article:
    """Copy an old revision's content back as a new save (the status stays as it is now)."""
    article = await get_article(uow.session, article_id, for_update=True)
    _check_version(article, expected_version)
    revision = await uow.session.get(ArticleRevision, revision_id)
    if revision is None or revision.article_id != article_id:
        raise NotFound(f"article {article_id} has no revision {revision_id}")
    article.title = revision.title
    article.questions = list(revision.questions)
    article.body = revision.body
    article.category = revision.category
    article.tags = list(revision.tags)
    return await _save(uow, article, author_id, f"restored version {revision.version}")


async def list_revisions(session: AsyncSession, article_id: int) -> list[ArticleRevision]:
    await get_article(session, article_id)
    rows = await session.execute(
        select(ArticleRevision).where(ArticleRevision.article_id == article_id).order_by(ArticleRevision.version.desc())
    )
    return list(rows.scalars())


def matches(article: Article, needle: str) -> bool:
    haystack = "\n".join([article.slug, article.title, *article.questions, article.body, *article.tags])
    return needle in haystack.casefold()


async def list_articles(session: AsyncSession, query: ArticleQuery) -> tuple[list[Article], int]:
    """Articles, most recently changed first; and how many match in all.

    The text filter runs in Python: SQLite's ``lower()`` and a PostgreSQL database in the C locale fold
    only ASCII, and JSON columns keep Cyrillic escaped, so SQL ``LIKE`` would miss Russian words. An editor's
    list covers at most a few thousand articles.
    """
    conditions: list[Any] = []
    if query.status is not None:
        conditions.append(Article.status == query.status)
    if query.language is not None:
        conditions.append(Article.language == query.language)
    if query.category:
        conditions.append(Article.category == query.category)
    ordered = select(Article).where(*conditions).order_by(Article.updated_at.desc(), Article.id.desc())
    needle = (query.text or "").strip().casefold()
    if needle:
        found = [a for a in (await session.execute(ordered)).scalars() if matches(a, needle)]
        return found[query.offset : query.offset + query.limit], len(found)
    total = (await session.execute(select(func.count()).select_from(Article).where(*conditions))).scalar_one()
    rows = await session.execute(ordered.limit(query.limit).offset(query.offset))
    return list(rows.scalars()), int(total)


async def all_articles(session: AsyncSession, status: ArticleStatus | None = None) -> list[Article]:
    statement = select(Article).order_by(Article.slug, Article.language)
    if status is not None:
        statement = statement.where(Article.status == status)
    return list((await session.execute(statement)).scalars())


Action = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class Imported:
    article_id: int
    slug: str
    language: str
    action: Action


async def import_articles(
    uow: UnitOfWork, contents: Sequence[ArticleContent], author_id: int | None, note: str = "imported"
) -> list[Imported]:
    """Create or update articles by (slug, language) in the caller's transaction; unchanged ones are left alone."""
    session = uow.session
    slugs = sorted({c.slug for c in contents})
    existing: dict[tuple[str, str], Article] = {}
    for start in range(0, len(slugs), 500):
        rows = await session.execute(select(Article).where(Article.slug.in_(slugs[start : start + 500])))
        existing.update({(a.slug, a.language): a for a in rows.scalars()})
    done: list[Imported] = []
    for content in contents:
        article = existing.get((content.slug, content.language))
        if article is None:
            article = await create_article(uow, content, author_id, note)
            done.append(Imported(article.id, article.slug, article.language, "created"))
            continue
        if content_of(article) == content:
            done.append(Imported(article.id, article.slug, article.language, "unchanged"))
            continue
        for field in CONTENT_FIELDS:
            value = getattr(content, field)
            setattr(article, field, list(value) if isinstance(value, tuple) else value)
        _apply_status(article, content.status)
        await _save(uow, article, author_id, note)
        done.append(Imported(article.id, article.slug, article.language, "updated"))
    return done


async def event_counts(session: AsyncSession, since: datetime | None) -> dict[int, dict[str, int]]:
    """Answers served and votes per article since ``since`` (all recorded ones when ``None``)."""
    statement = select(ArticleEvent.article_id, ArticleEvent.kind, func.count()).group_by(
        ArticleEvent.article_id, ArticleEvent.kind
    )
    if since is not None:
        statement = statement.where(ArticleEvent.created_at >= since)
    out: dict[int, dict[str, int]] = {}
    for article_id, kind, count in await session.execute(statement):
        out.setdefault(int(article_id), {})[ArticleEventKind(kind).value] = int(count)
    return out
