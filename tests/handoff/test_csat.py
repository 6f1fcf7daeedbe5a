"""CSAT: one rating per conversation and per ticket; a second rating replaces the first."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.db import SessionFactory, transaction
from core.errors import InvalidInput, NotFound
from handoff.csat import record_csat
from handoff.models import Csat
from tests.support.people import person, uow
from tickets.desk import TicketDesk


async def test_csat_is_one_per_ticket_and_a_second_rating_updates(sessions: SessionFactory, desk: TicketDesk) -> None:
    who = await person(sessions)
    async with uow(sessions) as work:
        ticket, _ = await desk.tickets.open(work, who.customer, who.conversation, description="Не работает ТВ")
    async with transaction(sessions) as session:
        for bad in (0, 6, True):
            with pytest.raises(InvalidInput):
                await record_csat(session, rating=bad, comment=None, ticket_id=ticket.id)
        with pytest.raises(InvalidInput):
            await record_csat(session, rating=5, comment=None)
        with pytest.raises(NotFound):
            await record_csat(session, rating=5, comment=None, ticket_id=999_999)
        await record_csat(session, rating=2, comment="долго", ticket_id=ticket.id)
        await record_csat(session, rating=4, comment=None, ticket_id=ticket.id)
        await record_csat(session, rating=5, comment="спасибо", conversation_id=who.conversation.id)
    async with transaction(sessions) as session:
        rows = list((await session.execute(select(Csat).order_by(Csat.id))).scalars())
    assert [(r.rating, r.comment, r.ticket_id, r.conversation_id) for r in rows] == [
        (4, "долго", ticket.id, None),
        (5, "спасибо", None, who.conversation.id),
    ]
