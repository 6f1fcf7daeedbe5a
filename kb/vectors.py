"""Stored passage vectors: one row per (article, embedder, position), with the passage text.

The vector columns and their bytes are the shared shape of :mod:`nlu.vectors`.

Matching is by text: a passage whose text is unchanged after an edit keeps its vector, so an edit embeds only
what changed, and a restart embeds nothing at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kb.models import Article, ArticleChunk, ArticleStatus
from nlu.embedding import Embedder
from nlu.vectors import FloatArray, columns, usable


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
    session: AsyncSession, embedder: Embedder, article_ids: Sequence[int] | None = None
) -> dict[int, StoredChunks]:
    """Stored chunks of ``embedder`` for the given articles (all published articles when ``None``)."""
    out: dict[int, StoredChunks] = {}
    statement = select(
        ArticleChunk.article_id, ArticleChunk.text, ArticleChunk.vector, ArticleChunk.embedder, ArticleChunk.dim
    ).where(ArticleChunk.embedder == embedder.name, ArticleChunk.dim == embedder.dim)
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
        for article_id, text, raw, name, dim in rows:
            vector = usable(raw, name, dim, embedder)
            if vector is not None:
                out.setdefault(article_id, StoredChunks()).add(text, vector)
    return out


async def replace_chunks(
    session: AsyncSession, article_id: int, embedder: Embedder, texts: Sequence[str], vectors: FloatArray
) -> bool:
    """Store an article's passages for one embedder; ``False`` when another worker stored them first."""
    try:
        async with session.begin_nested():
            await session.execute(
                delete(ArticleChunk).where(
                    ArticleChunk.article_id == article_id, ArticleChunk.embedder == embedder.name
                )
            )
            session.add_all(
                ArticleChunk(article_id=article_id, position=i, text=text, **columns(vec, embedder.name))
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
