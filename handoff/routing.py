"""Teams and routing: a waiting conversation's team, operators' presence, and optional auto-assignment.

A waiting conversation's team is, in order: the team of an open ticket opened in the conversation (tickets
are routed by category), the team ``data/handoff/routing.yml`` gives the intent of the customer's latest
message with a listed intent, the default team. Disabled teams are skipped.

Auto-assignment is per team and off by default. It picks, by turn (the operator assigned longest ago first),
an operator of the team who is *online* — chosen by the operator and seen in the inbox within
``inbox_away_after`` seconds — and holds fewer open conversations than their capacity. Away and offline
operators are never picked; when nobody fits, the conversation stays waiting. The assignment itself goes
through :func:`handoff.inbox.take`, so it is race-safe against operators and against other workers
handling the same event.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.datafiles import Strict, read_yaml, validate
from core.db import SessionFactory
from core.errors import Conflict, InvalidInput
from core.events import EventBus
from core.models import Author, Conversation, ConversationStatus, Message, Operator, Team, utcnow
from core.templates import Templates
from core.uow import UnitOfWork
from handoff.inbox import take
from handoff.models import OperatorPresence, TeamMember, TeamRouting
from tickets.models import Ticket, TicketConversation, TicketStatus

ROUTING_FILE = Path("handoff") / "routing.yml"
INTENT_LOOKBACK = 20  # customer messages searched, newest first, for an intent that names a team
DRAIN_LIMIT = 20  # waiting chats offered again at once when an operator comes online or frees capacity

log = logging.getLogger(__name__)


class RoutingFile(Strict):
    intents: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RoutingRules:
    """Where waiting conversations go: the default team and the teams named by intents."""

    default_team: str
    intents: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, data_dir: Path, default_team: str) -> RoutingRules:
        path = data_dir / ROUTING_FILE
        if not path.exists():
            return cls(default_team)
        parsed = validate(path, RoutingFile, read_yaml(path) or {})
        return cls(default_team, dict(parsed.intents))


class Presence(enum.StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


def effective_status(presence: OperatorPresence | None, now: datetime, away_after: timedelta) -> Presence:
    if presence is None:
        return Presence.OFFLINE
    status = Presence(presence.status)
    if status is Presence.ONLINE and presence.seen_at < now - away_after:
        return Presence.AWAY  # inactivity
    return status


async def presence_of(session: AsyncSession, operator_id: int) -> OperatorPresence:
    row = await session.get(OperatorPresence, operator_id)
    if row is None:
        row = OperatorPresence(operator_id=operator_id, status=Presence.OFFLINE.value, capacity=3, seen_at=utcnow())
        session.add(row)
        await session.flush()
    return row


async def set_presence(
    session: AsyncSession, operator_id: int, status: str, capacity: int | None = None
) -> OperatorPresence:
    try:
        chosen = Presence(status)
    except ValueError:
        raise InvalidInput("presence is online, away or offline", field="status") from None
    if capacity is not None and not 0 <= capacity <= 50:
        raise InvalidInput("capacity is 0 to 50 concurrent conversations", field="capacity")
    row = await presence_of(session, operator_id)
    row.status = chosen.value
    row.seen_at = utcnow()
    if capacity is not None:
        row.capacity = capacity
    await session.flush()
    return row


async def touch(session: AsyncSession, operator_id: int, *, active: bool = True) -> str:
    """The operator opened or did something in the inbox (``active``): they are not inactive. A tab
    refreshing itself on a live event is not the operator (``active=False``): an open tab alone must not keep
    them online. Returns the status they chose."""
    row = await session.get(OperatorPresence, operator_id)
    if row is None:
        return Presence.OFFLINE.value
    if active:
        row.seen_at = utcnow()
    return row.status


async def pick_operator(session: AsyncSession, team_id: int, now: datetime, away_after: timedelta) -> Operator | None:
    """The next online operator of the team under capacity, by turn; None when nobody fits."""
    holding = (
        select(func.count())
        .select_from(Conversation)
        .where(Conversation.assignee_id == Operator.id, Conversation.status == ConversationStatus.ASSIGNED)
        .scalar_subquery()
    )
    stmt = (
        select(Operator)
        .join(TeamMember, TeamMember.operator_id == Operator.id)
        .join(OperatorPresence, OperatorPresence.operator_id == Operator.id)
        .where(
            TeamMember.team_id == team_id,
            Operator.active.is_(True),
            OperatorPresence.status == Presence.ONLINE.value,
            OperatorPresence.seen_at >= now - away_after,
            holding < OperatorPresence.capacity,
        )
        .order_by(OperatorPresence.last_assigned_at.asc().nulls_first(), Operator.id)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _active_team(session: AsyncSession, *, key: str | None = None, team_id: int | None = None) -> Team | None:
    if key is not None:
        team = (await session.execute(select(Team).where(Team.key == key))).scalar_one_or_none()
    else:
        team = await session.get(Team, team_id) if team_id is not None else None
    return team if team is not None and team.active else None


async def conversation_team(session: AsyncSession, conversation: Conversation, rules: RoutingRules) -> Team | None:
    """The team a conversation belongs to: its open ticket's, its intent's, else the default (active ones only)."""
    ticket_team = await session.scalar(
        select(Ticket.team_id)
        .join(TicketConversation, TicketConversation.ticket_id == Ticket.id)
        .where(
            TicketConversation.conversation_id == conversation.id,
            Ticket.status.not_in([TicketStatus.RESOLVED, TicketStatus.CLOSED]),
            Ticket.team_id.is_not(None),
        )
        .order_by(Ticket.id.desc())
        .limit(1)
    )
    team = await _active_team(session, team_id=ticket_team)
    if team is not None:
        return team
    if rules.intents:
        metas = (
            await session.execute(
                select(Message.meta)
                .where(Message.conversation_id == conversation.id, Message.author == Author.CUSTOMER)
                .order_by(Message.seq.desc())
                .limit(INTENT_LOOKBACK)
            )
        ).scalars()
        for meta in metas:
            key = rules.intents.get(str((meta or {}).get("intent", "")))
            if key is not None:
                team = await _active_team(session, key=key)
                if team is not None:
                    return team
    return await _active_team(session, key=rules.default_team)


async def follow_ticket_team(session: AsyncSession, conversation: Conversation, team_id: int | None) -> None:
    """A ticket opened in the conversation moves it to the ticket's team, when that team is active."""
    team = await _active_team(session, team_id=team_id)
    if team is not None and conversation.team_id != team.id:
        conversation.team_id = team.id
        await session.flush()


async def route_waiting(
    uow: UnitOfWork, conversation_id: int, rules: RoutingRules, away_after: timedelta, templates: Templates
) -> Operator | None:
    """Give a waiting conversation its team (when it has none) and, if the team wants it, an operator."""
    session = uow.session
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.status is not ConversationStatus.WAITING:
        return None
    if conversation.team_id is None:
        team = await conversation_team(session, conversation, rules)
        if team is None:
            return None
        conversation.team_id = team.id
        await session.flush()
    routing = await session.get(TeamRouting, conversation.team_id)
    if routing is None or not routing.auto_assign:
        return None
    now = utcnow()
    operator = await pick_operator(session, conversation.team_id, now, away_after)
    if operator is None:
        return None  # stays waiting: never handed to someone away or full
    try:
        await take(uow, conversation_id, operator, templates)
    except Conflict:
        return None  # an operator (or another worker) took it first
    presence = await presence_of(session, operator.id)
    presence.last_assigned_at = now
    await session.flush()
    return operator


async def offer_waiting(
    sessions: SessionFactory, bus: EventBus, rules: RoutingRules, away_after: timedelta, templates: Templates
) -> int:
    """Offer the oldest waiting chats of auto-assigning teams again; returns how many found an operator.

    Run when an operator comes online or frees capacity. Each chat is routed in its own transaction, so one
    that nobody can take does not hold up the others, and a race with an operator's click is settled by
    :func:`handoff.inbox.take`.
    """
    async with sessions() as session:
        ids = list(
            (
                await session.execute(
                    select(Conversation.id)
                    .join(TeamRouting, TeamRouting.team_id == Conversation.team_id)
                    .where(Conversation.status == ConversationStatus.WAITING, TeamRouting.auto_assign.is_(True))
                    .order_by(Conversation.waiting_since.asc(), Conversation.id)
                    .limit(DRAIN_LIMIT)
                )
            ).scalars()
        )
    assigned = 0
    for conversation_id in ids:
        async with UnitOfWork(sessions, bus) as uow:
            if await route_waiting(uow, conversation_id, rules, away_after, templates) is not None:
                assigned += 1
    return assigned
