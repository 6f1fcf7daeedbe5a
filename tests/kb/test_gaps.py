"""Gaps: recorded questions grouped by meaning, dismissed, or turned into a draft article in one step."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
from sqlalchemy import select

from core.db import SessionFactory, transaction
from core.events import InProcessBus
from core.models import utcnow
from core.uow import UnitOfWork
from kb import gaps
from kb.models import ArticleStatus, Gap, GapStatus
from nlu.embedding import Embedder

TV_REFUND = [
    "можно ли вернуть деньги за сломанный телевизор",
    "верните деньги за телевизор, он сломался",
    "телевизор сломался, хочу возврат денег",
]
DOG_FOOD = ["чем кормить собаку", "какой корм лучше купить для собаки"]
INTERCOM = "как подключить умный домофон"


async def _record(sessions: SessionFactory, texts: Sequence[str], language: str = "ru") -> list[int]:
    ids = []
    async with transaction(sessions) as session:
        for text in texts:
            gap = await gaps.record_gap(session, text, language, "telegram", None)
            assert gap is not None
            ids.append(gap.id)
    return ids


class Counting:
    """The session's embedder, counting how many texts each call embeds."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.name, self.dim = embedder.name, embedder.dim
        self.calls: list[int] = []

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:  # type: ignore[type-arg]
        self.calls.append(len(texts))
        return self.embedder.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:  # type: ignore[type-arg]
        self.calls.append(len(texts))
        return self.embedder.embed_passages(texts)


async def test_similar_gaps_are_grouped_and_counted(sessions: SessionFactory, embedder: Embedder) -> None:
    await _record(sessions, [TV_REFUND[0], DOG_FOOD[0], TV_REFUND[1], INTERCOM, DOG_FOOD[1], TV_REFUND[2]])
    await _record(sessions, ["my TV broke, can I get my money back"], "en")
    async with transaction(sessions) as session:
        assert await gaps.record_gap(session, "🙂🙂 !!!", "ru", "web", None) is None, "no words, no gap"
        old = await gaps.record_gap(session, "старый вопрос про телевизор и возврат денег", "ru", "web", None)
        assert old is not None
        old.created_at = utcnow() - timedelta(days=30)

    counting = Counting(embedder)
    groups, total = await gaps.group_gaps(sessions, counting)
    assert total == 7, "last week's open gaps only"
    shapes = [(g.language, g.count, sorted(g.examples)) for g in groups]
    assert shapes[0] == ("ru", 3, sorted(TV_REFUND)), "the largest group first"
    assert ("ru", 2, sorted(DOG_FOOD)) in shapes
    assert ("ru", 1, [INTERCOM]) in shapes
    assert ("en", 1, ["my TV broke, can I get my money back"]) in shapes, "languages are grouped apart"
    assert groups[0].text in TV_REFUND
    assert groups[0].channels == {"telegram": 3}

    again, _ = await gaps.group_gaps(sessions, counting)
    assert [g.gap_ids for g in again] == [g.gap_ids for g in groups]
    assert counting.calls == [7], "vectors are kept on the gaps after the first grouping"


async def test_a_group_becomes_a_draft_article_and_dismissed_gaps_disappear(
    sessions: SessionFactory, bus: InProcessBus, embedder: Embedder
) -> None:
    tv = await _record(sessions, TV_REFUND)
    dog = await _record(sessions, DOG_FOOD)
    async with UnitOfWork(sessions, bus) as uow:
        article = await gaps.convert_gaps(uow, tv, author_id=None, title=None)
    assert article.status is ArticleStatus.DRAFT
    assert article.language == "ru"
    assert sorted(article.questions) == sorted(TV_REFUND)
    assert article.title[0].isupper()
    async with transaction(sessions) as session:
        assert await gaps.dismiss_gaps(session, [*dog, tv[0]]) == 2, "a converted gap is not dismissed again"
        states = {g.id: (g.status, g.article_id) for g in (await session.execute(select(Gap))).scalars()}
    assert {states[i] for i in tv} == {(GapStatus.CONVERTED, article.id)}
    assert {states[i][0] for i in dog} == {GapStatus.DISMISSED}
    groups, total = await gaps.group_gaps(sessions, embedder)
    assert (groups, total) == ([], 0)
