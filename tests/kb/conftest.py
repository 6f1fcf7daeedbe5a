"""Shared knowledge-base fixtures: the demo articles and their vectors (the embedder is the session's one)."""

from __future__ import annotations

import pytest

from kb.importer import parse_path
from kb.schemas import ArticleContent
from nlu.embedding import Embedder
from tests.support.kb import DEMO_KB, SAMPLE_SLUGS, VectorMemo


@pytest.fixture(scope="session")
def demo_articles() -> list[ArticleContent]:
    return parse_path(DEMO_KB)


@pytest.fixture(scope="session")
def sample_articles(demo_articles: list[ArticleContent]) -> list[ArticleContent]:
    return [a for a in demo_articles if a.slug in SAMPLE_SLUGS]


@pytest.fixture(scope="session")
def vector_memo(embedder: Embedder) -> VectorMemo:
    return VectorMemo(embedder)
