"""Teams as admins manage them: create, rename, disable, members (an operator may be in several), the
team's auto-assignment switch, and each operator's capacity (concurrent chats)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, InvalidInput, NotFound
from core.models import Operator, Team
from handoff.models import OperatorPresence, TeamMember, TeamRouting

KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
NAME_LIMIT = 200
CAPACITY_LIMIT = 50


@dataclass(frozen=True, slots=True)
class TeamView:
    team: Team
    auto_assign: bool
    members: list[Operator]


@dataclass(frozen=True, slots=True)
class OperatorView:
    operator: Operator
    status: str
    capacity: int


async def team_by_key(session: AsyncSession, key: str) -> Team:
    team = (await session.execute(select(Team).where(Team.key == key))).scalar_one_or_none()
    if team is None:
        raise NotFound("no such team", team=key)
    return team


def _name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise InvalidInput("a team needs a name", field="name")
    if len(cleaned) > NAME_LIMIT:
        raise InvalidInput(f"a team's name is at most {NAME_LIMIT} characters", field="name")
    return cleaned


async def create_team(session: AsyncSession, key: str, name: str) -> Team:
    key = key.strip()
    if not KEY.fullmatch(key):
        raise InvalidInput("a team's key is 1-64 lowercase letters, digits, '-' or '_'", field="key")
    cleaned = _name(name)
    if (await session.execute(select(Team.id).where(Team.key == key))).first() is not None:
        raise Conflict("a team with this key exists", field="key", team=key)
    team = Team(key=key, name=cleaned, active=True)
    session.add(team)
    await session.flush()
    return team


async def rename_team(session: AsyncSession, key: str, name: str) -> None:
    team = await team_by_key(session, key)
    team.name = _name(name)
    await session.flush()


async def set_team_active(session: AsyncSession, key: str, active: bool) -> None:
    team = await team_by_key(session, key)
    team.active = active
    await session.flush()


async def add_member(session: AsyncSession, team_key: str, operator_id: int) -> None:
    team = await team_by_key(session, team_key)
    operator = await session.get(Operator, operator_id)
    if operator is None or not operator.active:
        raise InvalidInput("no such active operator", field="operator_id")
    if await session.get(TeamMember, (team.id, operator_id)) is None:
        session.add(TeamMember(team_id=team.id, operator_id=operator_id))
        await session.flush()


async def remove_member(session: AsyncSession, team_key: str, operator_id: int) -> None:
    team = await team_by_key(session, team_key)
    member = await session.get(TeamMember, (team.id, operator_id))
    if member is not None:
        await session.delete(member)
        await session.flush()


async def set_auto_assign(session: AsyncSession, team_key: str, enabled: bool) -> None:
    team = await team_by_key(session, team_key)
    routing = await session.get(TeamRouting, team.id)
    if routing is None:
        session.add(TeamRouting(team_id=team.id, auto_assign=enabled))
    else:
        routing.auto_assign = enabled
    await session.flush()


async def set_capacity(session: AsyncSession, operator_id: int, capacity: int) -> None:
    """How many chats the operator holds at once before auto-assignment passes them by."""
    if not 0 <= capacity <= CAPACITY_LIMIT:
        raise InvalidInput(f"capacity is 0 to {CAPACITY_LIMIT} concurrent conversations", field="capacity")
    operator = await session.get(Operator, operator_id)
    if operator is None:
        raise NotFound("no such operator", operator_id=operator_id)
    row = await session.get(OperatorPresence, operator_id)
    if row is None:
        session.add(OperatorPresence(operator_id=operator_id, status="offline", capacity=capacity))
    else:
        row.capacity = capacity
    await session.flush()


async def overview(session: AsyncSession) -> tuple[list[TeamView], list[OperatorView]]:
    """Every team with its members and switch, and every operator with presence and capacity."""
    teams = list((await session.execute(select(Team).order_by(Team.active.desc(), Team.key))).scalars())
    operators = list((await session.execute(select(Operator).order_by(Operator.login))).scalars())
    by_id = {o.id: o for o in operators}
    members: dict[int, list[Operator]] = {}
    for team_id, operator_id in await session.execute(select(TeamMember.team_id, TeamMember.operator_id)):
        members.setdefault(team_id, []).append(by_id[operator_id])
    switches = {r.team_id: r.auto_assign for r in (await session.execute(select(TeamRouting))).scalars()}
    presence = {p.operator_id: p for p in (await session.execute(select(OperatorPresence))).scalars()}
    team_views = [TeamView(t, switches.get(t.id, False), members.get(t.id, [])) for t in teams]
    operator_views = [
        OperatorView(
            o,
            presence[o.id].status if o.id in presence else "offline",
            presence[o.id].capacity if o.id in presence else 3,
        )
        for o in operators
    ]
    return team_views, operator_views
