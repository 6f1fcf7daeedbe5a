"""Stored passage vectors: float32 bytes per (article, embedder, position), with the passage text.

Matching is by text: a passage whose text is unchanged after an edit keeps its vector, so an edit embeds only
what changed, and a restart embeds nothing at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kb.models import Article, ArticleChunk, ArticleStatus

FloatArray = npt.NDArray[np.float32]


def to_bytes(vector: npt.ArrayLike) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def from_bytes(raw: bytes, dim: int) -> FloatArray | None:
    """The vector, or ``None`` when the bytes do not hold ``dim`` float32 values (another model's leftovers)."""
    if len(raw) != 4 * dim:
        return None
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


class StoredChunks:
    """One article's stored passages for one embedder."""

    __slots__ = ("texts", "vectors")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.vectors: dict[str, FloatArray] = {}

    def add(self, text: str, vector: FloatArray) -> None:
        self.texts.append(text)
        self.vectors[text] = vector


async def load_chunks(
    session: AsyncSession, embedder: str, dim: int, article_ids: Sequence[int] | None = None
) -> dict[int, StoredChunks]:
    """Stored chunks of ``embedder`` for the given articles (all published articles when ``None``)."""
    out: dict[int, StoredChunks] = {}
    statement = select(ArticleChunk.article_id, ArticleChunk.text, ArticleChunk.vector).where(
        ArticleChunk.embedder == embedder
    )
    if article_ids is None:
        statement = statement.join(Article, Article.id == ArticleChunk.article_id).where(
            Article.status == ArticleStatus.PUBLISHED
        )
        batches: list[Sequence[int] | None] = [None]
    else:
        ids = list(article_ids)
        batches = [ids[i : i + 500] for i in range(0, len(ids), 500)]
    for batch in batches:
        query = statement if batch is None else statement.where(ArticleChunk.article_id.in_(batch))
        rows = await session.execute(query.order_by(ArticleChunk.article_id, ArticleChunk.position))
        for article_id, text, raw in rows:
            vector = from_bytes(raw, dim)
            if vector is not None:
                out.setdefault(article_id, StoredChunks()).add(text, vector)
    return out


async def replace_chunks(
    session: AsyncSession, article_id: int, embedder: str, texts: Sequence[str], vectors: FloatArray
) -> bool:
    """Store an article's passages for one embedder; ``False`` when another worker stored them first."""
    try:
        async with session.begin_nested():
            await session.execute(
                delete(ArticleChunk).where(ArticleChunk.article_id == article_id, ArticleChunk.embedder == embedder)
            )
            session.add_all(
                ArticleChunk(article_id=article_id, embedder=embedder, position=i, text=text, vector=to_bytes(vec))
                for i, (text, vec) in enumerate(zip(texts, vectors, strict=True))
            )
            await session.flush()
    except IntegrityError:
        return False
    return True


async def delete_chunks(session: AsyncSession, *, except_embedder: str | None = None) -> int:
    """Drop stored vectors (all, or all but one embedder's); returns how many rows."""
    statement = delete(ArticleChunk)
    if except_embedder is not None:
        statement = statement.where(ArticleChunk.embedder != except_embedder)
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
