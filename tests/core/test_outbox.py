"""The outbox: a reply is stored before delivery, survives a crash, and reaches the customer once.

``RecordingChannel`` stands in for a channel's sender here; the real Telegram deliverer is exercised
against the Bot API stand-in in tests/bot.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import SessionFactory, create_engine, session_factory
from core.events import InProcessBus
from core.models import Channel, Conversation, DeliveryState, Message, utcnow
from core.outbox import DeliveryWorker, PermanentDeliveryError, RetryPolicy, TransientDeliveryError
from core.store import add_outbound, record_inbound
from core.uow import UnitOfWork
from tests.support.people import DEFAULTS, inbound


class RecordingChannel:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.failures: list[Exception] = []

    async def deliver(self, message: Message) -> str | None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message.text)
        return f"tg-{len(self.sent)}"


async def conversation_with_replies(sessions: SessionFactory, bus: InProcessBus, *texts: str) -> Conversation:
    async with UnitOfWork(sessions, bus) as uow:
        stored = await record_inbound(uow, inbound(), DEFAULTS)
        for text in texts:
            await add_outbound(uow, stored.conversation, text)
        return stored.conversation


async def states(sessions: SessionFactory) -> list[tuple[str, DeliveryState]]:
    async with sessions() as session:
        rows = (
            await session.execute(select(Message).where(Message.direction == "out").order_by(Message.seq))
        ).scalars()
        return [(m.text, m.delivery_state) for m in rows]


async def test_a_reply_stored_before_a_crash_is_delivered_once_after_restart(
    db_url: str, engine: AsyncEngine, bus: InProcessBus
) -> None:
    # The first process stores the reply and dies before its worker sends anything.
    crashed = create_engine(db_url)
    await conversation_with_replies(session_factory(crashed), bus, "Ваша заявка T-000001 принята")
    await crashed.dispose()

    # The restarted process finds it pending and sends it, once.
    sessions = session_factory(engine)
    channel = RecordingChannel()
    worker = DeliveryWorker(sessions, bus, {Channel.TELEGRAM: channel})
    assert await worker.drain_once() == 1
    assert await worker.drain_once() == 0
    assert channel.sent == ["Ваша заявка T-000001 принята"]
    assert await states(sessions) == [("Ваша заявка T-000001 принята", DeliveryState.SENT)]


async def test_transient_failures_are_retried_and_order_is_kept(sessions: SessionFactory, bus: InProcessBus) -> None:
    await conversation_with_replies(sessions, bus, "первый", "второй")
    channel = RecordingChannel()
    channel.failures.append(TransientDeliveryError("429", retry_after=0))
    worker = DeliveryWorker(sessions, bus, {Channel.TELEGRAM: channel}, RetryPolicy(base_delay=0))
    assert await worker.drain_once() == 0  # the first reply failed; the second must not overtake it
    assert channel.sent == []
    while await worker.drain_once():
        pass
    assert channel.sent == ["первый", "второй"]
    assert [s for _, s in await states(sessions)] == [DeliveryState.SENT, DeliveryState.SENT]


async def test_a_permanent_refusal_is_recorded_as_failed(sessions: SessionFactory, bus: InProcessBus) -> None:
    await conversation_with_replies(sessions, bus, "привет")
    channel = RecordingChannel()
    channel.failures.append(PermanentDeliveryError("bot was blocked by the user"))
    worker = DeliveryWorker(sessions, bus, {Channel.TELEGRAM: channel})
    await worker.drain_once()
    assert await states(sessions) == [("привет", DeliveryState.FAILED)]
    assert await worker.drain_once() == 0


async def test_gives_up_after_max_attempts(sessions: SessionFactory, bus: InProcessBus) -> None:
    await conversation_with_replies(sessions, bus, "привет")
    channel = RecordingChannel()
    channel.failures.extend(TransientDeliveryError("500") for _ in range(3))
    worker = DeliveryWorker(sessions, bus, {Channel.TELEGRAM: channel}, RetryPolicy(max_attempts=3, base_delay=0))
    for _ in range(3):
        await worker.drain_once()
    assert await states(sessions) == [("привет", DeliveryState.FAILED)]


async def test_private_notes_are_never_delivered(sessions: SessionFactory, bus: InProcessBus) -> None:
    conversation = await conversation_with_replies(sessions, bus)
    async with UnitOfWork(sessions, bus) as uow:
        conversation = await uow.session.get_one(Conversation, conversation.id)
        await add_outbound(uow, conversation, "клиент раздражён", private=True)
    channel = RecordingChannel()
    assert await DeliveryWorker(sessions, bus, {Channel.TELEGRAM: channel}).drain_once() == 0
    assert channel.sent == []


@pytest.mark.parametrize("workers", [2])
async def test_two_workers_never_send_the_same_reply(sessions: SessionFactory, bus: InProcessBus, workers: int) -> None:
    for user in range(6):
        async with UnitOfWork(sessions, bus) as uow:
            stored = await record_inbound(uow, inbound(user=str(100 + user)), DEFAULTS)
            await add_outbound(uow, stored.conversation, f"ответ {user}")
    channel = RecordingChannel()
    pool = [DeliveryWorker(sessions, bus, {Channel.TELEGRAM: channel}) for _ in range(workers)]
    import asyncio

    await asyncio.gather(*(w.drain_once() for w in pool))
    await asyncio.gather(*(w.drain_once() for w in pool))
    assert sorted(channel.sent) == sorted(f"ответ {u}" for u in range(6))


# --- issue 11: findings 7, 8 and 11 --------------------------------------------------------------------


class CrashingChannel(RecordingChannel):
    """Hands the reply to the customer, then the worker dies before it can record that (kill -9)."""

    async def deliver(self, message: Message) -> str | None:
        self.sent.append(message.text)
        raise asyncio.CancelledError


async def test_finding8_a_send_interrupted_by_a_crash_is_flagged_unknown_not_repeated(
    sessions: SessionFactory, bus: InProcessBus
) -> None:
    await conversation_with_replies(sessions, bus, "первый", "второй")
    crashing = CrashingChannel()
    with pytest.raises(asyncio.CancelledError):
        await DeliveryWorker(sessions, bus, {Channel.TELEGRAM: crashing}).drain_once()
    assert crashing.sent == ["первый"]
    assert [s for _, s in await states(sessions)] == [DeliveryState.SENDING, DeliveryState.PENDING]
    # The restarted worker: once the lease is over, the interrupted reply is flagged, not sent again, and the
    # next reply in the chat is no longer held back.
    channel = RecordingChannel()
    worker = DeliveryWorker(sessions, bus, {Channel.TELEGRAM: channel}, RetryPolicy(lease=30))
    assert await worker.drain_once() == 0, "inside the lease nobody touches it"
    async with sessions.begin() as session:
        await session.execute(
            update(Message)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
            .where(Message.delivery_state == DeliveryState.SENDING)
        )
    assert await worker.drain_once() == 1
    assert channel.sent == ["второй"]
    assert await states(sessions) == [("первый", DeliveryState.UNKNOWN), ("второй", DeliveryState.SENT)]
    async with sessions() as session:
        flagged = (await session.scalars(select(Message).where(Message.text == "первый"))).one()
    assert flagged.last_error is not None
    assert "not resent" in flagged.last_error


class BrokenForOne(RecordingChannel):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.tries = 0

    async def deliver(self, message: Message) -> str | None:
        if message.text == self.text:
            self.tries += 1
            raise RuntimeError("an unexpected fault")
        return await super().deliver(message)


async def test_finding7_unexpected_errors_are_capped_too(sessions: SessionFactory, bus: InProcessBus) -> None:
    await conversation_with_replies(sessions, bus, "привет", "потом")
    channel = BrokenForOne("привет")
    worker = DeliveryWorker(sessions, bus, {Channel.TELEGRAM: channel}, RetryPolicy(max_attempts=3, base_delay=0))
    for _ in range(6):
        await worker.drain_once()
    assert await states(sessions) == [("привет", DeliveryState.FAILED), ("потом", DeliveryState.SENT)]
    assert channel.tries == 3, "three attempts, then it stops"


async def test_finding11_one_stuck_chat_does_not_delay_another(sessions: SessionFactory, bus: InProcessBus) -> None:
    async with UnitOfWork(sessions, bus) as uow:
        stuck = await record_inbound(uow, inbound(user="900"), DEFAULTS)
        for n in range(120):
            await add_outbound(uow, stuck.conversation, f"stuck {n}")
    async with sessions.begin() as session:  # a 429 storm: the stuck chat backs off for a while
        await session.execute(
            update(Message)
            .where(Message.conversation_id == stuck.conversation.id)
            .values(next_attempt_at=utcnow() + timedelta(minutes=5))
        )
    async with UnitOfWork(sessions, bus) as uow:
        other = await record_inbound(uow, inbound(user="901"), DEFAULTS)
        await add_outbound(uow, other.conversation, "вам ответ")
    channel = RecordingChannel()
    worker = DeliveryWorker(sessions, bus, {Channel.TELEGRAM: channel}, batch=100)
    assert await worker.drain_once() == 1
    assert channel.sent == ["вам ответ"]
