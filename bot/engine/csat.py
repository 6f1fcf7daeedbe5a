"""CSAT dialogs: a conversation's or a ticket's 1-5 rating (a button or typed), and the comment after it."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.engine.turn import Turn
from core.buttons import ButtonPayload
from core.models import Conversation, ConversationStatus, Direction, Message, utcnow
from handoff.csat import record_csat
from handoff.models import Csat
from tickets.models import Ticket

log = logging.getLogger(__name__)

CSAT_WINDOW = timedelta(days=2)  # a rating typed as text counts for a conversation closed this recently
ISSUED_LOOKBACK = 200  # a ticket rating button is accepted if it is among this customer's latest replies


async def closed_conversation(turn: Turn, conversation_id: int) -> Conversation | None:
    closed = await turn.uow.session.get(Conversation, conversation_id)
    if closed is None or closed.customer_id != turn.customer.id or closed.status is not ConversationStatus.CLOSED:
        return None
    return closed


async def conversation_button(turn: Turn, conversation_id: int, rating: int, nonce: str) -> None:
    closed = await closed_conversation(turn, conversation_id)
    pending: Any = closed.dialog_state.get("csat") if closed is not None else None
    if closed is None or not isinstance(pending, dict) or pending.get("nonce") != nonce:
        log.warning("forged or stale rating button", extra={"conversation_id": conversation_id})
        turn.say("bot.stale_button")
        return
    await rate(turn, closed, rating)


async def late_rating(turn: Turn, rating: int) -> bool:
    """A rating typed as text after a close: it counts for the customer's latest closed conversation."""
    closed = (
        await turn.uow.session.execute(
            select(Conversation)
            .where(
                Conversation.customer_id == turn.customer.id,
                Conversation.status == ConversationStatus.CLOSED,
                Conversation.closed_at > utcnow() - CSAT_WINDOW,
            )
            .order_by(Conversation.closed_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if closed is None or not isinstance(closed.dialog_state.get("csat"), dict):
        return False
    await rate(turn, closed, rating)
    return True


async def rate(turn: Turn, closed: Conversation, rating: int) -> None:
    pending = dict(closed.dialog_state.get("csat") or {})
    if pending.get("rating") is not None:
        turn.say("csat.already")
        return
    await record_csat(turn.uow.session, rating=rating, comment=None, conversation_id=closed.id)
    pending["rating"] = rating
    closed.dialog_state = {**closed.dialog_state, "csat": pending}
    turn.state.flow = "csat_comment"
    turn.state.csat_for = closed.id
    turn.say("csat.thanks")


async def _issued(turn: Turn, payload: str) -> bool:
    """Whether the bot sent this exact button to this customer (the nonce makes it unguessable)."""
    rows = await turn.uow.session.execute(
        select(Message.buttons)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.customer_id == turn.customer.id, Message.direction == Direction.OUTBOUND)
        .order_by(Message.id.desc())
        .limit(ISSUED_LOOKBACK)
    )
    return any(
        isinstance(button, dict) and button.get("payload") == payload
        for buttons in rows.scalars()
        for button in buttons
    )


async def ticket_button(turn: Turn, button: ButtonPayload) -> None:
    """A rating button under a ticket's "resolved" notice: only as sent to the ticket's customer, only once."""
    numbers = button.numbers()
    ticket = None
    if numbers is not None and len(numbers) == 2 and 1 <= numbers[1] <= 5:
        ticket = await turn.uow.session.get(Ticket, numbers[0])
    if (
        numbers is None
        or ticket is None
        or ticket.customer_id != turn.customer.id
        or not await _issued(turn, button.pack())
    ):
        log.warning("forged or stale ticket rating button", extra={"payload": button.pack()[:64]})
        turn.say("bot.stale_button")
        return
    await rate_ticket(turn, ticket, numbers[1])


async def rate_ticket(turn: Turn, ticket: Ticket, rating: int) -> None:
    existing = await turn.uow.session.scalar(select(Csat.id).where(Csat.ticket_id == ticket.id))
    if existing is not None:
        turn.say("csat.already")
        return
    await record_csat(turn.uow.session, rating=rating, comment=None, ticket_id=ticket.id)
    turn.say("csat.ticket_thanks")


async def comment(turn: Turn, conversation_id: int) -> None:
    closed = await closed_conversation(turn, conversation_id)
    rating = closed.dialog_state.get("csat", {}).get("rating") if closed is not None else None
    if closed is None or not isinstance(rating, int):
        return
    await record_csat(turn.uow.session, rating=rating, comment=turn.text[:2000], conversation_id=closed.id)
    turn.say("csat.comment_thanks")
