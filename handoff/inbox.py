"""The inbox: the queue of conversations waiting for a human, assignment, replies, closing.

Assignment is one conditional UPDATE (``... WHERE status = 'waiting'``): when two operators grab the same
conversation at once, exactly one wins and the other gets a Conflict naming who has it.
handoff never calls a channel: replies and the CSAT question are stored in the outbox.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import is_postgres
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Author, Conversation, ConversationStatus, Customer, Message, Operator, Team, utcnow
from core.store import Button, add_outbound, get_conversation, set_status
from core.templates import Templates
from core.uow import UnitOfWork
from handoff.csat import csat_payload
from sla import SlaPolicy, eta_values, is_working, next_working_instant

DEFAULT_HANDLING = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class WaitEstimate:
    """What the customer is told when handed to a human."""

    position: int
    minutes: int | None  # None outside operators' hours
    back_at: datetime | None  # when operators are back, outside their hours


async def queue_position(session: AsyncSession, conversation: Conversation) -> int:
    since = conversation.waiting_since or utcnow()
    ahead = await session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(Conversation.status == ConversationStatus.WAITING, Conversation.waiting_since < since)
    )
    return int(ahead or 0) + 1


async def recent_first_reply_times(session: AsyncSession, now: datetime, days: int = 7) -> list[timedelta]:
    rows = await session.execute(
        select(Conversation.waiting_since, Conversation.first_reply_at)
        .where(
            Conversation.first_reply_at.is_not(None),
            Conversation.waiting_since.is_not(None),
            Conversation.first_reply_at > now - timedelta(days=days),
        )
        .order_by(Conversation.first_reply_at.desc())
        .limit(200)
    )
    return [reply - waiting for waiting, reply in rows if waiting and reply and reply >= waiting]


async def busy_operators(session: AsyncSession, now: datetime) -> int:
    count = await session.scalar(
        select(func.count(func.distinct(Conversation.assignee_id))).where(
            Conversation.assignee_id.is_not(None), Conversation.updated_at > now - timedelta(hours=1)
        )
    )
    return max(1, int(count or 0))


async def estimate_wait(
    session: AsyncSession, conversation: Conversation, customer: Customer, sla: SlaPolicy, now: datetime | None = None
) -> WaitEstimate:
    """An honest estimate from the queue and recent handling times, or when operators are back."""
    now = now or utcnow()
    calendar = sla.calendar_for(customer.plan if customer.plan in sla.plans else sla.default_plan)
    position = await queue_position(session, conversation)
    if not is_working(calendar, now):
        return WaitEstimate(position=position, minutes=None, back_at=next_working_instant(calendar, now))
    samples = await recent_first_reply_times(session, now)
    typical = timedelta(seconds=median(s.total_seconds() for s in samples)) if samples else DEFAULT_HANDLING
    operators = await busy_operators(session, now)
    rounds = math.ceil(position / operators)
    minutes = max(1, math.ceil(typical.total_seconds() * rounds / 60))
    return WaitEstimate(position=position, minutes=minutes, back_at=None)


def wait_text(estimate: WaitEstimate, customer: Customer, templates: Templates) -> str:
    lang: Literal["ru", "en"] = "en" if customer.language == "en" else "ru"
    if estimate.back_at is not None:
        # "back on Monday, 30 November, 09:00": the weekday in the case that follows "on", not "until".
        names = {
            "eta.weekdays": templates.raw("handoff.weekdays_on", lang),
            "eta.months": templates.raw("eta.months", lang),
        }
        values = eta_values(estimate.back_at, customer.timezone, lang, names)
        when = templates.render("handoff.back_at", lang, **values)
        return templates.render("handoff.after_hours", lang, when=when)
    return templates.render("handoff.waiting", lang, position=estimate.position, minutes=estimate.minutes)


async def hand_off(uow: UnitOfWork, conversation: Conversation) -> None:
    """Queue the conversation for a human (idempotent while it is already waiting or assigned)."""
    if conversation.status in (ConversationStatus.WAITING, ConversationStatus.ASSIGNED):
        return
    await set_status(uow, conversation, ConversationStatus.WAITING)


async def take(
    uow: UnitOfWork, conversation_id: int, operator: Operator, templates: Templates | None = None
) -> Conversation:
    """Assign a waiting conversation (or take over one the bot holds) to this operator, race-free.

    With ``templates`` the customer is told in their channel that a human has joined, and who.
    """
    session = uow.session
    result = await session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.status.in_([ConversationStatus.WAITING, ConversationStatus.BOT]),
        )
        .values(status=ConversationStatus.ASSIGNED, assignee_id=operator.id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    conversation = await get_conversation(session, conversation_id)
    await session.refresh(conversation)
    if result.rowcount == 0:  # type: ignore[attr-defined]
        if conversation.status is ConversationStatus.ASSIGNED and conversation.assignee_id == operator.id:
            return conversation
        holder = await session.get(Operator, conversation.assignee_id) if conversation.assignee_id else None
        raise Conflict(
            "this conversation is not in the queue",
            status=conversation.status.value,
            assignee=holder.name if holder else None,
        )
    # set_status records the move and tells every worker; the row already says ASSIGNED.
    conversation.status = ConversationStatus.WAITING
    await set_status(uow, conversation, ConversationStatus.ASSIGNED, assignee_id=operator.id)
    if templates is not None:
        name = operator.name or operator.login
        joined = templates.render("inbox.joined", conversation.language, name=name)
        await add_outbound(uow, conversation, joined, author=Author.SYSTEM)
    return conversation


def require_holder(conversation: Conversation, operator: Operator) -> None:
    if conversation.status is not ConversationStatus.ASSIGNED or conversation.assignee_id != operator.id:
        raise Conflict("take the conversation before replying", status=conversation.status.value)


async def reply(uow: UnitOfWork, conversation_id: int, operator: Operator, text: str, private: bool = False) -> int:
    """An operator's reply (stored in the outbox for the customer's channel) or an internal note."""
    conversation = await get_conversation(uow.session, conversation_id)
    await uow.session.refresh(conversation, with_for_update=is_postgres(uow.session))
    if not private:
        require_holder(conversation, operator)
    message = await add_outbound(
        uow, conversation, text, author=Author.OPERATOR, operator_id=operator.id, private=private
    )
    if not private and conversation.first_reply_at is None:
        conversation.first_reply_at = utcnow()
    return message.id


async def transfer(
    uow: UnitOfWork,
    conversation_id: int,
    operator: Operator,
    *,
    to_operator_id: int | None = None,
    to_team_key: str | None = None,
    note: str = "",
) -> Conversation:
    """Hand a held conversation to another operator (it stays assigned) or to a team (it waits again).

    The note is stored as an internal note: the customer never sees it.
    """
    if (to_operator_id is None) == (to_team_key is None):
        raise InvalidInput("transfer to one operator or to one team")
    session = uow.session
    conversation = await get_conversation(session, conversation_id)
    await session.refresh(conversation, with_for_update=is_postgres(session))
    require_holder(conversation, operator)
    if to_operator_id is not None:
        target = await session.get(Operator, to_operator_id)
        if target is None or not target.active:
            raise InvalidInput("no such active operator", field="to_operator_id")
        conversation.assignee_id = target.id
        await set_status(uow, conversation, ConversationStatus.ASSIGNED, assignee_id=target.id)
    else:
        team = (await session.execute(select(Team).where(Team.key == to_team_key))).scalar_one_or_none()
        if team is None:
            raise NotFound("no such team", team=to_team_key)
        if not team.active:
            raise InvalidInput("this team is disabled", field="to_team", team=to_team_key)
        conversation.team_id = team.id
        await set_status(uow, conversation, ConversationStatus.WAITING)
    if note.strip():
        await add_outbound(uow, conversation, note, author=Author.OPERATOR, operator_id=operator.id, private=True)
    return conversation


async def return_to_bot(uow: UnitOfWork, conversation_id: int, operator: Operator, templates: Templates) -> None:
    """Give the conversation back to the bot, and tell the customer the bot answers again."""
    conversation = await get_conversation(uow.session, conversation_id)
    require_holder(conversation, operator)
    await add_outbound(uow, conversation, templates.render("handoff.back_to_bot", conversation.language))
    conversation.team_id = None  # the next handoff decides the team afresh, from what the customer asks then
    await set_status(uow, conversation, ConversationStatus.BOT)


async def operator_answered(session: AsyncSession, conversation_id: int) -> bool:
    """Whether an operator wrote to the customer in the conversation (internal notes do not count)."""
    stmt = (
        select(Message.id)
        .where(
            Message.conversation_id == conversation_id,
            Message.author == Author.OPERATOR,
            Message.private.is_(False),
        )
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


async def close(uow: UnitOfWork, conversation_id: int, operator: Operator | None, templates: Templates) -> bool:
    """Close the conversation; True when the customer was asked for a rating with in-channel buttons.

    Only a conversation a person answered is rated: a rating of help nobody gave would count against the team
    and puzzle the customer.
    """
    session = uow.session
    conversation = await get_conversation(session, conversation_id)
    if conversation.status is ConversationStatus.CLOSED:
        raise Conflict("the conversation is already closed")
    if operator is not None and conversation.status is ConversationStatus.ASSIGNED:
        require_holder(conversation, operator)
    customer = await session.get(Customer, conversation.customer_id)
    if customer is None:
        raise NotFound("customer of the conversation is gone")
    if not await operator_answered(session, conversation.id):
        await set_status(uow, conversation, ConversationStatus.CLOSED)
        return False
    nonce = secrets.token_hex(3)
    state = dict(conversation.dialog_state)
    state["csat"] = {"nonce": nonce, "asked_at": utcnow().isoformat()}
    conversation.dialog_state = state
    buttons = [
        Button(
            label=templates.render(f"csat.button.{n}", customer.language),
            payload=csat_payload(conversation.id, n, nonce),
        )
        for n in range(1, 6)
    ]
    await add_outbound(uow, conversation, templates.render("csat.question", customer.language), buttons=buttons)
    await set_status(uow, conversation, ConversationStatus.CLOSED)
    return True


async def list_conversations(
    session: AsyncSession, statuses: list[ConversationStatus], assignee_id: int | None = None, limit: int = 100
) -> list[Conversation]:
    stmt = select(Conversation).where(Conversation.status.in_(statuses))
    if assignee_id is not None:
        stmt = stmt.where(Conversation.assignee_id == assignee_id)
    stmt = stmt.order_by(Conversation.waiting_since.asc().nulls_last(), Conversation.id).limit(limit)
    return list((await session.execute(stmt)).scalars())
