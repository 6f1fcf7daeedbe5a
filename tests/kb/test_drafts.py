"""What the bot would say with a draft: the draft is searched as if published, and the live index is left as
it was (no customer search sees the draft, a published article's text comes back)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from core.db import SessionFactory, transaction
from core.events import InProcessBus
from core.uow import UnitOfWork
from kb import articles
from kb.models import Article, ArticleStatus
from kb.schemas import ArticleContent
from kb.search.index import Band, Document
from kb.service import ArticleHit, KnowledgeBase
from nlu.embedding import Embedder
from tests.support.kb import VectorMemo

DRAFT = ArticleContent(
    slug="static-ip-draft",
    language="ru",
    title="Статический IP-адрес",
    questions=("как подключить статический ip", "нужен белый постоянный ip адрес"),
    body="Статический IP подключается в личном кабинете за 150 ₽ в месяц.",
    status=ArticleStatus.DRAFT,
)
DRAFT_QUESTION = "нужен постоянный белый ip"
PUBLISHED_QUESTION = "инет пропал со вчерашнего вечера, что делать?"


@pytest.fixture
async def kb(
    sessions: SessionFactory,
    bus: InProcessBus,
    embedder: Embedder,
    sample_articles: list[ArticleContent],
    vector_memo: VectorMemo,
) -> AsyncIterator[KnowledgeBase]:
    async with UnitOfWork(sessions, bus) as uow:
        await articles.import_articles(uow, [*sample_articles, DRAFT], None)
    await vector_memo.store(sessions)
    kb = KnowledgeBase(sessions, bus, embedder)
    await kb.start()
    yield kb
    await kb.close()


async def _article(sessions: SessionFactory, slug: str) -> Article:
    async with transaction(sessions) as session:
        return (
            await session.execute(select(Article).where(Article.slug == slug, Article.language == "ru"))
        ).scalar_one()


def _doc(article: Article, **changes: object) -> Document:
    fields: dict[str, object] = {
        "article_id": article.id,
        "language": article.language,
        "title": article.title,
        "questions": tuple(article.questions),
        "body": article.body,
        "key": article.slug,
    }
    fields.update(changes)
    return Document(**fields)  # type: ignore[arg-type]


def _summary(hits: list[ArticleHit]) -> list[tuple[int, str, float]]:
    return [(h.article_id, h.band.value, round(h.score, 6)) for h in hits]


async def test_a_draft_answers_only_in_the_check(kb: KnowledgeBase, sessions: SessionFactory) -> None:
    before = await kb.search(DRAFT_QUESTION, "ru", 5, count_view=False)
    draft = await _article(sessions, DRAFT.slug)
    assert all(h.article_id != draft.id for h in before)
    assert not before or before[0].band is not Band.ANSWER

    checked = await kb.search_with_draft(DRAFT_QUESTION, "ru", _doc(draft))
    assert checked[0].article_id == draft.id
    assert checked[0].band is Band.ANSWER
    assert checked[0].title == DRAFT.title

    after = await kb.search(DRAFT_QUESTION, "ru", 5, count_view=False)
    assert _summary(after) == _summary(before)
    assert draft.id not in kb.index


async def test_a_changed_published_article_is_checked_and_then_restored(
    kb: KnowledgeBase, sessions: SessionFactory
) -> None:
    published = await _article(sessions, "internet-not-working")
    before = await kb.search(PUBLISHED_QUESTION, "ru", 5, count_view=False)
    assert before[0].article_id == published.id
    assert before[0].band is Band.ANSWER

    # A draft of it about something else entirely: the question no longer finds it first.
    unrelated = _doc(published, title="Подарочные сертификаты", questions=("как купить сертификат",), body="Купите.")
    checked = await kb.search_with_draft(PUBLISHED_QUESTION, "ru", unrelated)
    assert not checked or checked[0].article_id != published.id or checked[0].band is not Band.ANSWER

    after = await kb.search(PUBLISHED_QUESTION, "ru", 5, count_view=False)
    assert _summary(after) == _summary(before)
