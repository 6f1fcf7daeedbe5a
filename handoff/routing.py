"""Teams and routing: a waiting conversation's team, operators' presence, and optional auto-assignment.

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
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, InvalidInput, NotFound
from core.models import Conversation, ConversationStatus, Operator, Team, utcnow
from core.templates import Templates
from core.uow import UnitOfWork
from handoff.inbox import take
from handoff.models import OperatorPresence, TeamMember, TeamRouting

log = logging.getLogger(__name__)


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


async def touch(session: AsyncSession, operator_id: int) -> str:
    """The operator did something in the inbox: they are not inactive. Returns the status they chose."""
    row = await session.get(OperatorPresence, operator_id)
    if row is None:
        return Presence.OFFLINE.value
    row.seen_at = utcnow()
    return row.status


async def add_member(session: AsyncSession, team_key: str, operator_id: int) -> None:
    team = await _team(session, team_key)
    operator = await session.get(Operator, operator_id)
    if operator is None or not operator.active:
        raise InvalidInput("no such active operator", field="operator_id")
    if await session.get(TeamMember, (team.id, operator_id)) is None:
        session.add(TeamMember(team_id=team.id, operator_id=operator_id))
        await session.flush()


async def set_auto_assign(session: AsyncSession, team_key: str, enabled: bool) -> None:
    team = await _team(session, team_key)
    routing = await session.get(TeamRouting, team.id)
    if routing is None:
        session.add(TeamRouting(team_id=team.id, auto_assign=enabled))
    else:
        routing.auto_assign = enabled
    await session.flush()


async def _team(session: AsyncSession, key: str) -> Team:
    team = (await session.execute(select(Team).where(Team.key == key))).scalar_one_or_none()
    if team is None:
        raise NotFound("no such team", team=key)
    return team


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


async def route_waiting(
    uow: UnitOfWork, conversation_id: int, default_team: str, away_after: timedelta, templates: Templates
) -> Operator | None:
    """Give a waiting conversation its team (the default when none) and, if the team wants it, an operator."""
    session = uow.session
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.status is not ConversationStatus.WAITING:
        return None
    if conversation.team_id is None:
        team = (await session.execute(select(Team).where(Team.key == default_team))).scalar_one_or_none()
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
