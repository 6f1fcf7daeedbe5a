"""Gaps: customer questions the bot could not answer confidently, grouped so editors see what is missing.

Grouping clusters the open gaps of a period by the cosine distance of their embeddings (agglomerative,
average linkage, a distance threshold rather than a number of groups), separately per language, so the
editor sees "43 customers asked about X this week" and turns the group into a draft article in one step.
A gap's vector is computed the first time it is grouped and kept on its row (the shape of :mod:`nlu.vectors`).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import SessionFactory, transaction
from core.errors import InvalidInput, NotFound
from core.models import utcnow
from core.uow import UnitOfWork
from kb.articles import create_article, get_article, update_article
from kb.models import Article, ArticleStatus, Gap, GapReason, GapStatus
from kb.schemas import MAX_QUESTION_CHARS, MAX_QUESTIONS, ArticleContent, ArticleUpdate
from nlu.embedding import Embedder, embed_queries
from nlu.vectors import FloatArray, columns, read

MAX_GAP_CHARS = 1000
GROUP_DISTANCE = 0.5
"""Cosine distance under which questions join a group (average linkage). Measured with USE on the demo
knowledge base's own question variants (517 ru / 449 en questions of 66 articles, article = true group):
adjusted Rand index peaks at 0.5 (0.23 ru, 0.22 en; 0.4 → 0.19/0.17, 0.6 → 0.19/0.23), groups 65 % pure."""
MAX_GROUPED = 3000
"""At most this many recent open gaps are grouped at once (the clustering is quadratic in memory)."""
EXAMPLES = 5
_WORD = re.compile(r"[^\W_]", re.UNICODE)


async def record_gap(
    session: AsyncSession,
    text: str,
    language: str,
    channel: str,
    conversation_id: int | None,
    *,
    reason: GapReason = GapReason.UNKNOWN,
    answered_article_id: int | None = None,
) -> Gap | None:
    """Store a gap; texts without a letter or digit (emoji, punctuation) say nothing an article could answer."""
    clean = " ".join((text or "").split())[:MAX_GAP_CHARS]
    if not _WORD.search(clean):
        return None
    gap = Gap(
        text=clean,
        language=(language or "")[:8],
        channel=(channel or "unknown")[:32],
        conversation_id=conversation_id,
        reason=reason,
        answered_article_id=answered_article_id,
    )
    session.add(gap)
    await session.flush()
    return gap


@dataclass(slots=True)
class GapGroup:
    text: str
    language: str
    gap_ids: list[int]
    conversations: int
    examples: list[str]
    channels: dict[str, int]
    first_seen: datetime
    last_seen: datetime
    count: int = field(init=False)

    def __post_init__(self) -> None:
        self.count = len(self.gap_ids)


def group_vectors(vectors: FloatArray, distance: float = GROUP_DISTANCE) -> list[int]:
    """Cluster labels for L2-normalised rows: average-linkage agglomerative clustering on cosine distance."""
    if len(vectors) == 0:
        return []
    if len(vectors) == 1:
        return [0]
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=None, distance_threshold=distance, metric="cosine", linkage="average")
    return [int(label) for label in model.fit_predict(vectors)]


def _medoid(vectors: FloatArray) -> int:
    """The row most similar on average to the others: the most typical question of a group."""
    if len(vectors) <= 2:
        return 0
    similarity = vectors @ vectors.T
    return int(np.argmax(similarity.mean(axis=1)))


def _build_groups(gaps: list[Gap], vectors: FloatArray, distance: float) -> list[GapGroup]:
    labels = group_vectors(vectors, distance)
    members: dict[int, list[int]] = {}
    for row, label in enumerate(labels):
        members.setdefault(label, []).append(row)
    groups: list[GapGroup] = []
    for rows in members.values():
        own = [gaps[r] for r in rows]
        center = own[_medoid(vectors[rows])]
        texts = Counter(g.text for g in own)
        groups.append(
            GapGroup(
                text=center.text,
                language=center.language,
                gap_ids=sorted(g.id for g in own),
                conversations=len({g.conversation_id for g in own if g.conversation_id is not None}),
                examples=[t for t, _n in texts.most_common(EXAMPLES)],
                channels=dict(Counter(g.channel for g in own)),
                first_seen=min(g.created_at for g in own),
                last_seen=max(g.created_at for g in own),
            )
        )
    return groups


async def group_gaps(
    sessions: SessionFactory,
    embedder: Embedder,
    *,
    days: int = 7,
    language: str | None = None,
    now: datetime | None = None,
    distance: float = GROUP_DISTANCE,
) -> tuple[list[GapGroup], int]:
    """Open gaps of the last ``days`` days in groups of similar questions, largest first; and how many gaps."""
    since = (now or utcnow()) - timedelta(days=days)
    async with transaction(sessions) as session:
        statement = select(Gap).where(Gap.status == GapStatus.OPEN, Gap.created_at >= since)
        if language is not None:
            statement = statement.where(Gap.language == language)
        rows = await session.execute(statement.order_by(Gap.created_at.desc(), Gap.id.desc()).limit(MAX_GROUPED))
        found = list(rows.scalars())
    vectors: dict[int, FloatArray] = {}
    for gap in found:
        vector = read(gap, embedder)
        if vector is not None:
            vectors[gap.id] = vector
    missing = [g for g in found if g.id not in vectors]
    if missing:
        fresh = await embed_queries(embedder, [g.text for g in missing])
        vectors.update({g.id: v for g, v in zip(missing, fresh, strict=True)})
        async with transaction(sessions) as session:
            await session.execute(update(Gap), [{"id": g.id, **columns(vectors[g.id], embedder.name)} for g in missing])
    by_language: dict[str, list[Gap]] = {}
    for gap in found:
        by_language.setdefault(gap.language, []).append(gap)
    groups: list[GapGroup] = []
    for members in by_language.values():
        matrix = np.stack([vectors[g.id] for g in members]).astype(np.float32)
        groups.extend(await asyncio.to_thread(_build_groups, members, matrix, distance))
    groups.sort(key=lambda g: (-g.count, -g.last_seen.timestamp(), g.gap_ids[0]))
    return groups, len(found)


async def dismiss_gaps(session: AsyncSession, gap_ids: Sequence[int]) -> int:
    result = await session.execute(
        update(Gap).where(Gap.id.in_(list(gap_ids)), Gap.status == GapStatus.OPEN).values(status=GapStatus.DISMISSED)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _free_slug(session: AsyncSession, base: str, language: str) -> str:
    taken = set(
        (await session.execute(select(Article.slug).where(Article.slug.like(f"{base}%"), Article.language == language)))
        .scalars()
        .all()
    )
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


async def convert_gaps(uow: UnitOfWork, gap_ids: Sequence[int], author_id: int | None, title: str | None) -> Article:
    """A draft article from a group of gaps: its questions are the customers' own words; the gaps are closed."""
    session = uow.session
    rows = await session.execute(
        select(Gap).where(Gap.id.in_(list(gap_ids)), Gap.status == GapStatus.OPEN).order_by(Gap.id)
    )
    found = list(rows.scalars())
    if not found:
        raise NotFound("none of these gaps is open")
    language = Counter(g.language for g in found).most_common(1)[0][0]
    texts = Counter(g.text[:MAX_QUESTION_CHARS].strip() for g in found if g.language == language)
    questions = [t for t, _n in texts.most_common(MAX_QUESTIONS)]
    heading = (title or questions[0]).strip()[:300]
    try:
        content = ArticleContent.model_validate(
            {
                "slug": await _free_slug(session, f"gap-{found[0].id}", language),
                "language": language,
                "title": heading[:1].upper() + heading[1:],
                "questions": questions,
                "status": ArticleStatus.DRAFT,
            }
        )
    except ValidationError as exc:
        raise InvalidInput(f"these gaps cannot become an article: {exc.errors()[0]['msg']}") from None
    article = await create_article(uow, content, author_id, note="from gaps")
    for gap in found:
        gap.status = GapStatus.CONVERTED
        gap.article_id = article.id
    await session.flush()
    return article


async def add_as_variant(
    uow: UnitOfWork, gap_ids: Sequence[int], article_id: int, version: int | None, author_id: int | None
) -> Article:
    """Add a group's questions to an article's question variants (a new revision); the gaps are closed.

    ``version``: the article version the editor saw, when known (a save over a newer one is a conflict).
    """
    session = uow.session
    rows = await session.execute(
        select(Gap).where(Gap.id.in_(list(gap_ids)), Gap.status == GapStatus.OPEN).order_by(Gap.id.desc())
    )
    found = list(rows.scalars())
    if not found:
        raise NotFound("none of these gaps is open")
    article = await get_article(session, article_id)
    have = {q.casefold() for q in article.questions}
    new: list[str] = []
    for gap in found:
        text = gap.text[:MAX_QUESTION_CHARS].strip()
        if text and text.casefold() not in have:
            have.add(text.casefold())
            new.append(text)
    if len(article.questions) + len(new) > MAX_QUESTIONS:
        raise InvalidInput(f"an article has at most {MAX_QUESTIONS} questions")
    if new:
        changes = ArticleUpdate(
            version=version if version is not None else article.version,
            questions=(*article.questions, *new),
            note="customers' questions added from gaps",
        )
        article = await update_article(uow, article_id, changes, author_id)
    for gap in found:
        gap.status = GapStatus.CONVERTED
        gap.article_id = article.id
    await session.flush()
    return article


async def gaps_of(session: AsyncSession, gap_ids: Sequence[int]) -> list[Gap]:
    """The gaps with these ids, newest first (a group opened on the gaps page)."""
    rows = await session.execute(select(Gap).where(Gap.id.in_(list(gap_ids))).order_by(Gap.created_at.desc()))
    return list(rows.scalars())
