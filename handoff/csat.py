"""CSAT: the customer's 1-5 rating of a conversation or a ticket, and its comment."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.buttons import Action, ButtonPayload
from core.errors import InvalidInput, NotFound
from core.models import Conversation, utcnow
from core.store import clean_text
from handoff.models import Csat
from tickets.models import Ticket


async def record_csat(
    session: AsyncSession,
    *,
    rating: int,
    comment: str | None,
    conversation_id: int | None = None,
    ticket_id: int | None = None,
) -> None:
    """Store a 1-5 rating; a second rating of the same conversation or ticket replaces the first."""
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput("a rating is a whole number from 1 to 5", field="rating")
    if conversation_id is None and ticket_id is None:
        raise InvalidInput("a rating belongs to a conversation or a ticket")
    if ticket_id is not None and await session.get(Ticket, ticket_id) is None:
        raise NotFound("no such ticket", ticket_id=ticket_id)
    if conversation_id is not None and await session.get(Conversation, conversation_id) is None:
        raise NotFound("no such conversation", conversation_id=conversation_id)
    cleaned = clean_text(comment, 4000)[0] or None if comment is not None else None
    existing = await _find_csat(session, conversation_id, ticket_id)
    if existing is None:
        try:
            async with session.begin_nested():
                session.add(Csat(rating=rating, comment=cleaned, conversation_id=conversation_id, ticket_id=ticket_id))
                await session.flush()
            return
        except IntegrityError:
            existing = await _find_csat(session, conversation_id, ticket_id)  # rated twice at once
            if existing is None:
                raise
    existing.rating = rating
    if cleaned is not None:
        existing.comment = cleaned
    existing.conversation_id = existing.conversation_id or conversation_id
    existing.ticket_id = existing.ticket_id or ticket_id
    existing.updated_at = utcnow()
    await session.flush()


async def _find_csat(session: AsyncSession, conversation_id: int | None, ticket_id: int | None) -> Csat | None:
    stmt = select(Csat).where(
        Csat.ticket_id == ticket_id if ticket_id is not None else Csat.conversation_id == conversation_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def csat_payload(conversation_id: int, rating: int, nonce: str) -> str:
    return ButtonPayload(action=Action.CSAT, arg=f"{conversation_id}.{rating}", nonce=nonce).pack()


def parse_csat_payload(payload: str) -> tuple[int, int, str] | None:
    """(conversation id, rating, nonce) of a conversation rating button; None for any other payload."""
    button = ButtonPayload.unpack(payload)
    numbers = button.numbers() if button is not None and button.action is Action.CSAT else None
    if button is None or numbers is None or len(numbers) != 2 or not 1 <= numbers[1] <= 5:
        return None
    return numbers[0], numbers[1], button.nonce
