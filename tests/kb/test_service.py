"""The knowledge base the bot uses: published articles found by paraphrase, drafts never; edits reach every
worker; stored vectors survive restarts; feedback and views are counted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import numpy as np
import pytest
from sqlalchemy import func, select

from core.db import SessionFactory, transaction
from core.events import EventBus, InProcessBus, RedisBus
from core.uow import UnitOfWork
from kb import articles
from kb.models import Article, ArticleChunk, ArticleStatus, Gap, GapReason
from kb.schemas import ArticleContent, ArticleUpdate
from kb.search.index import Band
from kb.service import KnowledgeBase
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


class CountingEmbedder:
    """The real embedder, counting the passages it embeds (and optionally posing as another model)."""

    def __init__(self, inner: Embedder, name: str | None = None) -> None:
        self.inner = inner
        self.name = name or inner.name
        self.dim = inner.dim
        self.passages = 0

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:  # type: ignore[type-arg]
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:  # type: ignore[type-arg]
        self.passages += len(texts)
        return self.inner.embed_passages(texts)


async def _import(sessions: SessionFactory, bus: EventBus, contents: Sequence[ArticleContent]) -> None:
    async with UnitOfWork(sessions, bus) as uow:
        await articles.import_articles(uow, contents, None)


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the condition did not become true in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def kb(
    sessions: SessionFactory,
    bus: InProcessBus,
    embedder: Embedder,
    sample_articles: list[ArticleContent],
    vector_memo: VectorMemo,
) -> AsyncIterator[KnowledgeBase]:
    await _import(sessions, bus, [*sample_articles, DRAFT])
    await vector_memo.store(sessions)
    kb = KnowledgeBase(sessions, bus, embedder)
    await kb.start()
    yield kb
    await kb.close()


async def _top(kb: KnowledgeBase, query: str, language: str | None) -> str | None:
    hits = await kb.search(query, language, count_view=False)
    return hits[0].slug if hits else None


async def test_a_published_article_is_found_by_a_paraphrase_and_a_draft_is_not(kb: KnowledgeBase) -> None:
    hits = await kb.search("инет пропал со вчерашнего вечера, что делать?", "ru")
    assert hits[0].slug == "internet-not-working"
    assert hits[0].language == "ru"
    assert "роутер" in hits[0].answer_markdown
    assert await _top(kb, "forgot my password for the personal account", "en") == "reset-password"
    draft_hits = await kb.search("нужен постоянный белый ip", "ru", k=10, count_view=False)
    assert "static-ip-draft" not in {h.slug for h in draft_hits}
    assert all(h.band is not Band.ANSWER for h in draft_hits), "nothing published answers it"


async def test_odd_queries_are_answered_without_errors(kb: KnowledgeBase) -> None:
    for query in ["", "   ", "🙂🙂🙂", "?!…", "<script>alert(1)</script>"]:
        hits = await kb.search(query, "ru")
        assert all(h.band is not Band.ANSWER for h in hits), query
    for query in ["x" * 20_000, "роутер " * 3000, "интернет not working роутер"]:
        assert len(await kb.search(query, "ru")) <= 3


async def test_publishing_archiving_and_editing_reach_the_index(
    kb: KnowledgeBase, sessions: SessionFactory, bus: InProcessBus
) -> None:
    async with transaction(sessions) as session:
        draft = (await session.execute(select(Article).where(Article.slug == DRAFT.slug))).scalar_one()
    async with UnitOfWork(sessions, bus) as uow:
        await articles.set_status(uow, draft.id, ArticleStatus.PUBLISHED, None, None)

    async def found() -> bool:
        return await _top(kb, "нужен постоянный белый ip", "ru") == DRAFT.slug

    await _eventually(found)

    async with UnitOfWork(sessions, bus) as uow:
        changes = ArticleUpdate(version=2, questions=(*DRAFT.questions, "кот перегрыз оптический кабель"))
        await articles.update_article(uow, draft.id, changes, None)

    async def edited() -> bool:
        return await _top(kb, "кот погрыз оптический кабель", "ru") == DRAFT.slug

    await _eventually(edited)

    async with UnitOfWork(sessions, bus) as uow:
        await articles.set_status(uow, draft.id, ArticleStatus.ARCHIVED, None, None)

    async def gone() -> bool:
        return DRAFT.slug not in {h.slug for h in await kb.search("нужен постоянный белый ip", "ru", k=10)}

    await _eventually(gone)


@pytest.mark.redis
async def test_an_edit_is_searchable_on_a_second_worker_through_redis(
    sessions: SessionFactory,
    embedder: Embedder,
    sample_articles: list[ArticleContent],
    vector_memo: VectorMemo,
    redis_url: str,
) -> None:
    channel = f"frontline-test:{uuid.uuid4().hex}"
    buses = [RedisBus(redis_url, channel), RedisBus(redis_url, channel)]
    for bus in buses:
        await bus.start()
    workers = [KnowledgeBase(sessions, bus, embedder) for bus in buses]
    try:
        await _import(sessions, buses[0], sample_articles)
        await vector_memo.store(sessions)
        for worker in workers:
            await worker.start()
        # An editor on worker 0 publishes a new article; worker 1 hears of it through Redis.
        new = DRAFT.model_copy(update={"slug": "static-ip", "status": ArticleStatus.PUBLISHED})
        async with UnitOfWork(sessions, buses[0]) as uow:
            created = await articles.create_article(uow, new, None)

        async def on_second_worker() -> bool:
            return await _top(workers[1], "как получить белый постоянный ip", "ru") == "static-ip"

        await _eventually(on_second_worker, seconds=5)

        async with UnitOfWork(sessions, buses[0]) as uow:
            await articles.set_status(uow, created.id, ArticleStatus.ARCHIVED, None, None)

        async def archived_everywhere() -> bool:
            tops = [await _top(w, "как получить белый постоянный ip", "ru") for w in workers]
            return "static-ip" not in tops

        await _eventually(archived_everywhere, seconds=5)
    finally:
        for worker in workers:
            await worker.close()
        for bus in buses:
            await bus.stop()


async def test_a_restart_reuses_stored_vectors_and_a_model_change_reembeds(
    kb: KnowledgeBase, sessions: SessionFactory, bus: InProcessBus, embedder: Embedder
) -> None:
    same = CountingEmbedder(embedder)
    restarted = KnowledgeBase(sessions, bus, same)
    await restarted.start()
    await restarted.close()
    assert restarted.size == kb.size == 10
    assert same.passages == 0, "nothing is embedded again after a restart"

    other = CountingEmbedder(embedder, name="another-model")
    changed = KnowledgeBase(sessions, bus, other)
    await changed.start()
    assert other.passages > 0
    assert await _top(changed, "не работает интернет", "ru") == "internet-not-working"
    await changed.close()
    async with transaction(sessions) as session:
        models = set((await session.execute(select(ArticleChunk.embedder).distinct())).scalars())
    assert models == {embedder.name, "another-model"}, "the new model's vectors are stored too"


async def test_feedback_counts_votes_and_a_not_helpful_answer_is_a_gap(
    kb: KnowledgeBase, sessions: SessionFactory
) -> None:
    hits = await kb.search("не работает интернет", "ru")
    article_id = hits[0].article_id
    await kb.feedback(article_id, helpful=True)
    await kb.feedback(article_id, helpful=False, text="не помогло, интернет всё равно не работает", channel="web")
    await kb.record_gap("как подключить умный домофон", "ru", "telegram", None)
    await kb.record_gap("🙂", "ru", "telegram", None)  # nothing an article could answer

    async def counted() -> bool:
        view = await kb.get(article_id)
        return (view.views, view.helpful, view.not_helpful) == (1, 1, 1)

    await _eventually(counted)
    assert (await kb.get(article_id)).version == 1, "votes do not make an editor's open copy stale"
    async with transaction(sessions) as session:
        gaps = list((await session.execute(select(Gap).order_by(Gap.id))).scalars())
        total = await session.scalar(select(func.count()).select_from(Gap))
    assert total == 2
    assert (gaps[0].reason, gaps[0].answered_article_id, gaps[0].language) == (
        GapReason.NOT_HELPFUL,
        article_id,
        "ru",
    )
    assert (gaps[1].reason, gaps[1].channel) == (GapReason.UNKNOWN, "telegram")
