"""A ticket's stored first-response and resolution durations follow its life: pauses, resolution, reopening.

The standard plan's calendar in tests works Monday to Friday, 09:00-18:00 Moscow time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.db import SessionFactory, transaction
from tests.support.people import msk, person, uow
from tickets.desk import TicketDesk
from tickets.models import Actor, Ticket, TicketStatus


async def stored(sessions: SessionFactory, ticket_id: int) -> tuple[Any, ...]:
    async with transaction(sessions) as session:
        row = (
            await session.execute(
                select(
                    Ticket.first_response_minutes,
                    Ticket.first_response_business_minutes,
                    Ticket.resolution_minutes,
                    Ticket.resolution_business_minutes,
                ).where(Ticket.id == ticket_id)
            )
        ).one()
    return tuple(row)


async def move(sessions: SessionFactory, desk: TicketDesk, ticket_id: int, target: TicketStatus, at: datetime) -> None:
    async with uow(sessions) as work:
        ticket = await desk.tickets.get(work.session, ticket_id, lock=True)
        await desk.tickets.transition(work, ticket, target, actor=Actor.OPERATOR, now=at)


async def test_durations_leave_out_the_pause_and_follow_a_reopened_ticket(
    sessions: SessionFactory, desk: TicketDesk
) -> None:
    who = await person(sessions)
    async with uow(sessions) as work:
        ticket, _ = await desk.tickets.open(
            work, who.customer, who.conversation, description="Не работает ТВ", now=msk(2026, 11, 30, 10, 0)
        )
    assert await stored(sessions, ticket.id) == (None, None, None, None)

    # Waiting for the customer from Monday 12:00 to Tuesday 12:00: 6 + 3 business hours stopped.
    await move(sessions, desk, ticket.id, TicketStatus.PENDING, msk(2026, 11, 30, 12, 0))
    assert await stored(sessions, ticket.id) == (None, None, None, None)
    await move(sessions, desk, ticket.id, TicketStatus.OPEN, msk(2026, 12, 1, 12, 0))

    # Resolved Tuesday 14:00; the resolution notice is the first response. 28 real hours; business: Monday
    # 10-12 and Tuesday 12-14, 240 minutes.
    await move(sessions, desk, ticket.id, TicketStatus.RESOLVED, msk(2026, 12, 1, 14, 0))
    assert await stored(sessions, ticket.id) == (1680, 240, 1680, 240)

    # Reopened Wednesday 10:00: the resolution is no longer a fact; the first response stays.
    await move(sessions, desk, ticket.id, TicketStatus.OPEN, msk(2026, 12, 2, 10, 0))
    assert await stored(sessions, ticket.id) == (1680, 240, None, None)

    # Resolved again Wednesday 11:00: 49 real hours; business 240 + Wednesday 10-11 (the days it stood
    # resolved do not count): 300 minutes.
    await move(sessions, desk, ticket.id, TicketStatus.RESOLVED, msk(2026, 12, 2, 11, 0))
    assert await stored(sessions, ticket.id) == (1680, 240, 2940, 300)


async def test_the_backfill_fills_tickets_written_before_the_durations_and_only_once(
    sessions: SessionFactory, desk: TicketDesk
) -> None:
    from tickets.durations import backfill_durations

    who = await person(sessions)
    async with uow(sessions) as work:
        ticket, _ = await desk.tickets.open(
            work, who.customer, who.conversation, description="Не работает ТВ", now=msk(2026, 11, 30, 10, 0)
        )
    await move(sessions, desk, ticket.id, TicketStatus.RESOLVED, msk(2026, 11, 30, 11, 0))
    async with transaction(sessions) as session:  # as a ticket resolved before the columns existed
        row = await session.get_one(Ticket, ticket.id)
        row.first_response_minutes = row.first_response_business_minutes = None
        row.resolution_minutes = row.resolution_business_minutes = None
    assert await backfill_durations(sessions, desk.tickets.clock.sla) == 1
    assert await stored(sessions, ticket.id) == (60, 60, 60, 60)
    assert await backfill_durations(sessions, desk.tickets.clock.sla) == 0
