"""The message store: once and only once, and bad input never crashes or half-writes."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from core.db import SessionFactory
from core.errors import InvalidInput, UnknownChannel
from core.events import MESSAGE_STORED, Event, InProcessBus
from core.models import Author, Conversation, Customer, Message
from core.store import InboundMessage, Outbound, add_outbound, add_outbounds, history, record_inbound
from core.uow import UnitOfWork
from tests.support.people import DEFAULTS, inbound


async def count(sessions: SessionFactory, model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def store(sessions: SessionFactory, bus: InProcessBus, message: InboundMessage) -> tuple[int, bool]:
    async with UnitOfWork(sessions, bus) as uow:
        stored = await record_inbound(uow, message, DEFAULTS)
        return stored.message.id, stored.duplicate


async def test_a_redelivered_message_is_stored_once(sessions: SessionFactory, bus: InProcessBus) -> None:
    first_id, first_dup = await store(sessions, bus, inbound())
    again_id, again_dup = await store(sessions, bus, inbound())
    assert (first_dup, again_dup) == (False, True)
    assert again_id == first_id
    assert await count(sessions, Message) == 1
    assert await count(sessions, Customer) == 1


async def test_concurrent_copies_of_one_update_converge_on_one_row(sessions: SessionFactory, bus: InProcessBus) -> None:
    results = await asyncio.gather(*(store(sessions, bus, inbound(message_id="77")) for _ in range(5)))
    assert len({message_id for message_id, _ in results}) == 1
    assert sorted(dup for _, dup in results) == [False, True, True, True, True]
    assert await count(sessions, Message) == 1
    assert await count(sessions, Conversation) == 1


async def test_one_customer_one_open_conversation_and_ordered_sequence(
    sessions: SessionFactory, bus: InProcessBus
) -> None:
    for n in range(3):
        await store(sessions, bus, inbound(text=f"сообщение {n}", message_id=str(n)))
    async with UnitOfWork(sessions, bus) as uow:
        conversation = (await uow.session.execute(select(Conversation))).scalar_one()
        await add_outbound(uow, conversation, "ответ бота")
    async with sessions() as session:
        rows = await history(session, conversation.id)
        assert [m.seq for m in rows] == [1, 2, 3, 4]
        assert [m.author for m in rows][-1] is Author.BOT
        assert [m.seq for m in await history(session, conversation.id, after_seq=2)] == [3, 4]


async def test_a_turns_replies_stored_at_once_keep_their_order_after_the_message(
    sessions: SessionFactory, bus: InProcessBus
) -> None:
    await store(sessions, bus, inbound(text="как оплатить?", message_id="1"))
    async with UnitOfWork(sessions, bus) as uow:
        conversation = (await uow.session.execute(select(Conversation))).scalar_one()
        await add_outbounds(uow, conversation, [Outbound("первый"), Outbound("второй"), Outbound("третий")])
        await add_outbound(uow, conversation, "после")
    async with sessions() as session:
        rows = await history(session, conversation.id)
    assert [(m.seq, m.text) for m in rows] == [
        (1, "как оплатить?"),
        (2, "первый"),
        (3, "второй"),
        (4, "третий"),
        (5, "после"),
    ]
    assert all(m.author is Author.BOT for m in rows[1:])


async def test_writers_of_one_process_all_commit_when_they_come_at_once(
    sessions: SessionFactory, bus: InProcessBus
) -> None:
    # Forty customers writing at the same moment: every message is stored (on SQLite they take turns for the
    # write lock in this process's queue), none is refused as "database is locked".
    results = await asyncio.gather(
        *(store(sessions, bus, inbound(text=f"вопрос {n}", message_id=str(n))) for n in range(40))
    )
    assert sorted(dup for _, dup in results) == [False] * 40
    assert await count(sessions, Message) == 40


async def test_storing_emits_an_event_after_commit(sessions: SessionFactory, bus: InProcessBus) -> None:
    seen: list[Event] = []

    async def on_event(event: Event) -> None:
        seen.append(event)

    bus.subscribe(on_event, MESSAGE_STORED)
    await store(sessions, bus, inbound())
    await bus.drain()
    assert [e.data["direction"] for e in seen] == ["in"]


@pytest.mark.parametrize("text", ["", "   ", "\x00\x00"])
async def test_empty_text_is_refused_and_nothing_is_written(
    sessions: SessionFactory, bus: InProcessBus, text: str
) -> None:
    with pytest.raises(InvalidInput):
        await store(sessions, bus, inbound(text=text))
    assert await count(sessions, Message) == 0
    assert await count(sessions, Customer) == 0


async def test_unknown_channel_is_refused(sessions: SessionFactory, bus: InProcessBus) -> None:
    message = inbound().model_copy(update={"channel": "fax"})
    with pytest.raises(UnknownChannel):
        await store(sessions, bus, message)
    assert await count(sessions, Customer) == 0


async def test_huge_text_is_stored_truncated_with_a_note(sessions: SessionFactory, bus: InProcessBus) -> None:
    message_id, _ = await store(sessions, bus, inbound(text="я" * 100_000))
    async with sessions() as session:
        row = await session.get_one(Message, message_id)
    assert len(row.text) == 16_000
    assert row.meta["stored_with"]["truncated_from"] == 100_000


async def test_nul_bytes_and_lone_surrogates_are_cleaned(sessions: SessionFactory, bus: InProcessBus) -> None:
    message_id, _ = await store(sessions, bus, inbound(text="при\x00вет \ud800 мир"))
    async with sessions() as session:
        row = await session.get_one(Message, message_id)
    assert row.text == "привет ? мир"
    assert row.meta["stored_with"] == {"removed_nul": True, "replaced_invalid_unicode": True}
