"""Knowledge-base test data: the demo articles on disk and their passage vectors, embedded once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.db import SessionFactory, transaction
from core.settings import ROOT
from kb.articles import all_articles
from kb.models import ArticleStatus
from kb.search.index import SearchIndex
from kb.service import document_of
from kb.vectors import replace_chunks
from nlu.embedding import Embedder

DEMO_KB = ROOT / "data" / "kb"
# A handful of demo articles in both languages: enough to tell topics apart, quick to embed.
SAMPLE_SLUGS = ("internet-not-working", "reset-password", "pay-by-card", "return-equipment", "support-hours")


def demo_file(name: str) -> Path:
    return DEMO_KB / name


class VectorMemo:
    """Passage vectors computed once per test session, stored into each test's database as the server would
    have stored them, so a knowledge base starts from stored vectors instead of embedding again."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.index = SearchIndex(embedder)
        self.vectors: dict[str, np.ndarray] = {}  # type: ignore[type-arg]

    async def store(self, sessions: SessionFactory) -> None:
        async with transaction(sessions) as session:
            published = await all_articles(session, ArticleStatus.PUBLISHED)
            for article in published:
                passages = self.index.passages(document_of(article))
                missing = [p for p in passages if p not in self.vectors]
                if missing:
                    self.vectors.update(zip(missing, self.embedder.embed_passages(missing), strict=True))
                matrix = np.stack([self.vectors[p] for p in passages])
                await replace_chunks(session, article.id, self.embedder, passages, matrix)
