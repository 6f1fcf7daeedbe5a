"""The inbox's views at the query level, on both databases: All open lists the open conversations newest
first and counts what this operator has not read — in the same number of statements at any size.

All open once sorted every open conversation (and probed ``inbox_reads`` for each) to keep 50; it now walks
the partial index ``ix_conversations_open_updated_at`` and counts unread with one join.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import SessionFactory, transaction
from core.models import Channel, Conversation, ConversationStatus, Customer, utcnow
from core.operators import add_operator
from handoff import queue
from handoff.models import InboxRead
from tests.support.databases import count_statements

STATUSES = [ConversationStatus.WAITING, ConversationStatus.ASSIGNED, ConversationStatus.BOT, ConversationStatus.CLOSED]


async def seed(sessions: SessionFactory, operator_id: int, first: int, count: int) -> None:
    """``count`` customers with one conversation each, statuses in turn; every third open one read to its end."""
    now = utcnow()
    async with transaction(sessions) as session:
        for n in range(first, first + count):
            customer = Customer(name=f"Клиент {n}", language="ru", timezone="Europe/Moscow", plan="standard")
            session.add(customer)
            await session.flush()
            status = STATUSES[n % len(STATUSES)]
            conversation = Conversation(
                customer_id=customer.id,
                channel=Channel.TELEGRAM,
                chat_id=str(n),
                status=status,
                assignee_id=operator_id if status is ConversationStatus.ASSIGNED else None,
                language="ru",
                last_seq=2,
                waiting_since=now - timedelta(minutes=n) if status is ConversationStatus.WAITING else None,
                updated_at=now - timedelta(seconds=n),
            )
            session.add(conversation)
            await session.flush()
            if n % 3 == 0:
                session.add(InboxRead(operator_id=operator_id, conversation_id=conversation.id, seen_seq=2))


async def open_view(engine: AsyncEngine, sessions: SessionFactory, operator_id: int) -> tuple[list[int], Any, int]:
    with count_statements(engine) as seen:
        async with transaction(sessions) as session:
            rows = await queue.list_view(session, queue.View.OPEN, operator_id, queue.Filters())
            counts = await queue.counts(session, operator_id, queue.Filters())
    return [r.id for r in rows], (counts, rows), len(seen)


async def test_all_open_lists_newest_first_counts_unread_and_costs_the_same_at_any_size(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    async with transaction(sessions) as session:
        operator = await add_operator(session, "queue-op", "queue-password-123", "operator", "Оператор")
        other = await add_operator(session, "queue-other", "queue-password-123", "operator", "Другой")
        operator_id, other_id = operator.id, other.id
    await seed(sessions, operator_id, 0, 8)
    _ids, (counts, rows), small = await open_view(engine, sessions, operator_id)
    open_numbers = [n for n in range(8) if STATUSES[n % 4] in (ConversationStatus.WAITING, ConversationStatus.ASSIGNED)]
    assert [r.customer_name for r in rows] == [f"Клиент {n}" for n in open_numbers], "open only, newest first"
    unread = [n for n in open_numbers if n % 3 != 0]
    assert counts[queue.View.OPEN] == (len(open_numbers), len(unread))
    assert [r.unread for r in rows] == [n % 3 != 0 for n in open_numbers]

    await seed(sessions, operator_id, 8, 200)
    _ids, (counts, rows), large = await open_view(engine, sessions, operator_id)
    open_numbers = [
        n for n in range(208) if STATUSES[n % 4] in (ConversationStatus.WAITING, ConversationStatus.ASSIGNED)
    ]
    assert len(rows) == 50
    assert [r.customer_name for r in rows] == [f"Клиент {n}" for n in open_numbers[:50]]
    assert counts[queue.View.OPEN] == (len(open_numbers), len([n for n in open_numbers if n % 3 != 0]))
    assert large == small, "the list and its counts cost the same statements at any size"
    # Reads are per operator: another operator has read nothing.
    _ids, (counts, _rows), _n = await open_view(engine, sessions, other_id)
    assert counts[queue.View.OPEN] == (len(open_numbers), len(open_numbers))
