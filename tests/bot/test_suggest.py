"""The suggest band end to end in Telegram (real aiogram stack, Bot API stand-in, shipped thresholds).

A question the bot is unsure about gets up to three titles as buttons; the customer picks one, gets the answer
and the "did this help?" question; the pick is stored as calibration evidence and a candidate variant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import select

from core.web.keys import SESSIONS
from kb.keys import KNOWLEDGE_BASE
from kb.models import Article, PickStatus, SuggestionPick
from standin.stack import Stack
from tests.support.stacks import backend_url, running_stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Unsure for the shipped search (between the suggest and answer thresholds), and a question for the NLU.
UNSURE = "пришла бумажка где сумма больше чем тариф"
RIGHT_TITLE = "Как читать ежемесячный счёт"


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgresql"])
async def desk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with running_stack(backend_url(request), tmp_path_factory.mktemp("var")) as running:
        yield running


async def test_an_unsure_question_gets_titles_a_pick_answers_and_is_recorded(desk: Stack) -> None:
    chat = 7001
    offered = await desk.say(chat, UNSURE)
    assert any("какая ближе" in r for r in offered), offered
    titles = [b["text"] for b in desk.last_buttons(chat)]
    assert 1 <= len(titles) <= 3
    assert RIGHT_TITLE in titles, titles

    answered = await desk.press(chat, RIGHT_TITLE)
    assert any(RIGHT_TITLE in r for r in answered), "the picked article is the answer"
    assert any("помогло" in r for r in answered), "and the bot asks whether it helped"
    helpful = await desk.press(chat, "Да")
    assert any("рад" in r.lower() for r in helpful)

    async with desk.app[SESSIONS]() as session:
        article = (
            await session.execute(
                select(Article).where(Article.slug == "understanding-your-invoice", Article.language == "ru")
            )
        ).scalar_one()
        picks = list((await session.execute(select(SuggestionPick).where(SuggestionPick.text == UNSURE))).scalars())
    assert [(p.article_id, p.language, p.channel, p.status) for p in picks] == [
        (article.id, "ru", "telegram", PickStatus.OPEN)
    ]
    candidates = await desk.app[KNOWLEDGE_BASE].candidates(article.id)
    assert [c.text for c in candidates] == [UNSURE], "the editors see the customer's words as a candidate"


async def test_a_confident_answer_records_no_pick(desk: Stack) -> None:
    chat = 7002
    replies = await desk.say(chat, "как поменять пароль от вайфая?")
    assert any("помогло" in r for r in replies), "answered at once, no titles to choose from"
    async with desk.app[SESSIONS]() as session:
        assert (
            await session.execute(select(SuggestionPick).where(SuggestionPick.text.like("%пароль от вайфая%")))
        ).first() is None
