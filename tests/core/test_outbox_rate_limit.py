"""The outbox's per-channel rate limit: a pass never claims more of a limited channel's messages than its bucket
holds, so a fan-out goes out at the channel's pace; other channels are not held back.

Time is the bucket's injected clock, so nothing here depends on how fast the machine is.
"""

from __future__ import annotations

from sqlalchemy import func, select

from core.db import SessionFactory
from core.events import InProcessBus
from core.models import Channel, DeliveryState, Message
from core.outbox import BROADCAST_KEY, DeliveryWorker, RateLimit
from core.store import add_outbound
from core.uow import UnitOfWork
from tests.support.people import person


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class RecordingChannel:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def deliver(self, message: Message) -> str | None:
        self.sent.append(message.chat_id)
        return f"id-{len(self.sent)}"


def test_no_window_of_one_second_holds_more_than_the_rate() -> None:
    clock = Clock()
    limit = RateLimit(5, clock)
    assert limit.take(3) == 3
    clock.now = 0.5
    assert limit.take(100) == 2
    assert limit.wait() == 0.5
    clock.now = 0.9
    assert limit.take(100) == 0, "the window from 0.0 holds five"
    clock.now = 1.0
    assert limit.take(100) == 3, "the first three left the window"
    limit.give_back(1)
    assert limit.take(100) == 1
    clock.now = 100.0
    assert limit.take(100) == 5, "an idle channel gets one window's worth, not more"


def test_a_rate_below_one_widens_the_window() -> None:
    clock = Clock()
    limit = RateLimit(0.5, clock)
    assert limit.take(10) == 1
    clock.now = 1.5
    assert limit.take(10) == 0
    clock.now = 2.0
    assert limit.take(10) == 1


async def test_a_pass_sends_no_more_than_the_channel_limit_and_other_channels_go_on(
    sessions: SessionFactory, bus: InProcessBus
) -> None:
    people = [await person(sessions, f"Клиент {n}") for n in range(12)]
    web_customer = await person(sessions, "Web", channel=Channel.WEB)
    async with UnitOfWork(sessions, bus) as uow:
        for n, someone in enumerate(people):
            await add_outbound(uow, someone.conversation, f"уведомление {n}")
        await add_outbound(uow, web_customer.conversation, "в веб-чат")
    telegram, web = RecordingChannel(), RecordingChannel()
    clock = Clock()
    channels = {Channel.TELEGRAM: telegram, Channel.WEB: web}
    worker = DeliveryWorker(sessions, bus, channels, limits={Channel.TELEGRAM: 5}, clock=clock)

    assert await worker.drain_once() == 6, "five to Telegram, and the web chat's one is not held back"
    assert (len(telegram.sent), len(web.sent)) == (5, 1)
    assert await worker.drain_once() == 0, "the bucket is empty: nothing more this second"
    clock.now = 1.0
    assert await worker.drain_once() == 5
    clock.now = 2.0
    assert await worker.drain_once() == 2
    assert len(set(telegram.sent)) == 12, "every customer once"
    async with sessions() as session:
        pending = await session.scalar(
            select(func.count()).select_from(Message).where(Message.delivery_state != DeliveryState.SENT)
        )
    assert pending == 0


async def test_conversation_replies_go_before_a_backlog_of_notices(sessions: SessionFactory, bus: InProcessBus) -> None:
    """A customer talking to the bot during a large fan-out is answered in the next second, not after it."""
    people = [await person(sessions, f"Клиент {n}") for n in range(12)]
    talking = await person(sessions, "Собеседник")
    async with UnitOfWork(sessions, bus) as uow:
        for n, someone in enumerate(people):
            await add_outbound(uow, someone.conversation, f"уведомление {n}", meta={BROADCAST_KEY: 1})
        await add_outbound(uow, talking.conversation, "ответ бота")
    telegram = RecordingChannel()
    clock = Clock()
    worker = DeliveryWorker(sessions, bus, {Channel.TELEGRAM: telegram}, limits={Channel.TELEGRAM: 5}, clock=clock)

    assert await worker.drain_once() == 5
    assert telegram.sent[0] == talking.conversation.chat_id, "the reply stored last goes out first"
    clock.now = 1.0
    assert await worker.drain_once() == 5
    clock.now = 2.0
    assert await worker.drain_once() == 3
    assert len(set(telegram.sent)) == len(telegram.sent) == 13, "then every notice, once"


async def test_a_zero_limit_means_no_limit(sessions: SessionFactory, bus: InProcessBus) -> None:
    people = [await person(sessions, f"Клиент {n}") for n in range(3)]
    async with UnitOfWork(sessions, bus) as uow:
        for someone in people:
            await add_outbound(uow, someone.conversation, "уведомление")
    channel = RecordingChannel()
    worker = DeliveryWorker(sessions, bus, {Channel.TELEGRAM: channel}, limits={Channel.TELEGRAM: 0})
    assert await worker.drain_once() == 3


def test_a_send_counts_from_when_it_finished_not_when_it_was_claimed() -> None:
    """A slow round trip must not let the next pass's sends reach the channel in the same second."""
    clock = Clock()
    limit = RateLimit(5, clock)
    assert limit.take(5) == 5
    clock.now = 0.8
    limit.finished(5)
    clock.now = 1.0
    assert limit.take(5) == 0
    clock.now = 1.8
    assert limit.take(5) == 5
