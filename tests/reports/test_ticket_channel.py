"""A ticket's channel (the channel of its first conversation) is stored on it and follows its links.

The report groups and filters tickets by it; triggers keep it right whoever writes or removes a link.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from core.db import SessionFactory, transaction
from core.models import Channel, Conversation, ConversationStatus, Customer
from reports import metrics
from reports.period import Filters, Period
from sla.policy import Impact, Priority, Urgency
from tickets.models import SlaState, Ticket, TicketConversation, TicketStatus

BERLIN = ZoneInfo("Europe/Berlin")
PERIOD = Period.of_days(date(2026, 11, 2), date(2026, 11, 8), BERLIN)


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


async def _setup(sessions: SessionFactory) -> tuple[int, int, int]:
    """A customer with a Telegram and a web conversation, and a ticket linked to neither yet."""
    async with transaction(sessions) as db:
        customer = Customer(name="Anna", language="ru", timezone="Europe/Berlin", plan="office")
        db.add(customer)
        await db.flush()
        ids = []
        for channel, hour in ((Channel.TELEGRAM, 9), (Channel.WEB, 10)):
            conv = Conversation(
                customer_id=customer.id,
                channel=channel,
                chat_id=f"{channel}-chat",
                language="ru",
                status=ConversationStatus.CLOSED,
                created_at=at(3, hour),
                dialog_state={},
                last_seq=0,
            )
            db.add(conv)
            await db.flush()
            ids.append(conv.id)
        ticket = Ticket(
            customer_id=customer.id,
            subject="no internet",
            description="",
            urgency=Urgency.MEDIUM,
            impact=Impact.ONE,
            priority=Priority.P3,
            sla_priority=Priority.P3,
            status=TicketStatus.NEW,
            plan="office",
            sla_started_at=at(3, 11),
            first_response_state=SlaState.OK,
            resolution_state=SlaState.OK,
            sla_state=SlaState.OK,
            pauses=[],
            created_at=at(3, 11),
        )
        db.add(ticket)
        await db.flush()
        return ids[0], ids[1], ticket.id


async def _channel(sessions: SessionFactory, ticket_id: int) -> str | None:
    async with transaction(sessions) as db:
        return await db.scalar(select(Ticket.channel).where(Ticket.id == ticket_id))


async def _report(sessions: SessionFactory, f: Filters = Filters()) -> list[tuple[tuple[str, ...], int]]:
    async with transaction(sessions) as db:
        return [(c.keys, c.count) for c in await metrics.tickets_by_channel_plan(db, PERIOD, f)]


async def test_the_stored_channel_is_the_first_linked_conversations(sessions: SessionFactory) -> None:
    telegram, web, ticket = await _setup(sessions)
    assert await _channel(sessions, ticket) is None
    assert await _report(sessions) == [(("none", "office"), 1)]
    assert await _report(sessions, Filters(channel="none")) == [(("none", "office"), 1)]

    async with transaction(sessions) as db:
        db.add(TicketConversation(ticket_id=ticket, conversation_id=web, created_at=at(3, 12)))
    assert await _channel(sessions, ticket) == "web"
    assert await _report(sessions) == [(("web", "office"), 1)]

    # A link dated earlier (a conversation gathered from before) makes that conversation the first one.
    async with transaction(sessions) as db:
        db.add(TicketConversation(ticket_id=ticket, conversation_id=telegram, created_at=at(3, 11)))
    assert await _channel(sessions, ticket) == "telegram"
    assert await _report(sessions, Filters(channel="telegram")) == [(("telegram", "office"), 1)]
    assert await _report(sessions, Filters(channel="web")) == []


async def test_the_stored_channel_follows_a_removed_link_and_an_erased_conversation(
    sessions: SessionFactory,
) -> None:
    telegram, web, ticket = await _setup(sessions)
    async with transaction(sessions) as db:
        db.add(TicketConversation(ticket_id=ticket, conversation_id=telegram, created_at=at(3, 11)))
        db.add(TicketConversation(ticket_id=ticket, conversation_id=web, created_at=at(3, 12)))
    assert await _channel(sessions, ticket) == "telegram"

    # Erasing the conversation removes its link (ON DELETE CASCADE): the web conversation is now the first.
    async with transaction(sessions) as db:
        await db.execute(delete(Conversation).where(Conversation.id == telegram))
    assert await _channel(sessions, ticket) == "web"

    async with transaction(sessions) as db:
        await db.execute(delete(TicketConversation).where(TicketConversation.ticket_id == ticket))
    assert await _channel(sessions, ticket) is None
    assert await _report(sessions) == [(("none", "office"), 1)]
