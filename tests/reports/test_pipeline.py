"""From a customer's Telegram message to the report: the bot stamps what it understood and how the knowledge base
answered on the customer's message, and the report counts it (real aiogram stack, Bot API stand-in)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from sqlalchemy import select

from core.models import Direction, Message
from core.web.keys import SESSIONS
from reports import metrics
from reports.period import Filters, Period
from standin.stack import Stack
from tests.support.stacks import backend_url, running_stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

UNSURE = "пришла бумажка где сумма больше чем тариф"  # the suggest band for the shipped search (tests/bot)
RIGHT_TITLE = "Как читать ежемесячный счёт"


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgresql"])
async def desk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with running_stack(backend_url(request), tmp_path_factory.mktemp("var")) as running:
        yield running


async def test_a_question_and_a_vote_reach_the_report(desk: Stack) -> None:
    chat = 7301
    await desk.say(chat, UNSURE)
    await desk.press(chat, RIGHT_TITLE)
    await desk.press(chat, "Да")
    today = date.today()
    period = Period.of_days(today - timedelta(days=1), today + timedelta(days=1), ZoneInfo("UTC"))
    async with desk.app[SESSIONS]() as db:
        question = (
            await db.execute(select(Message).where(Message.direction == Direction.INBOUND, Message.text == UNSURE))
        ).scalar_one()
        assert question.meta.get("band") == "suggest"
        assert question.meta.get("intent")  # whatever the NLU made of it, it is recorded
        bands = await metrics.band_counts(db, period, Filters())
        votes = await metrics.article_votes(db, period, Filters())
    assert bands["suggest"] == 1
    assert [(v.title, v.helpful, v.not_helpful) for v in votes] == [(RIGHT_TITLE, 1, 0)]
