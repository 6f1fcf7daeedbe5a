"""Teams and routing on both databases: auto-assignment by turn among online operators under capacity,
never to away (chosen or inactive) or offline ones; transfer to an operator or a team."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from core.db import SessionFactory, transaction
from core.errors import InvalidInput, NotFound
from core.events import InProcessBus
from core.models import Conversation, ConversationStatus, Operator, Team, utcnow
from core.operators import add_operator
from core.store import get_conversation, set_status
from core.templates import Templates
from core.uow import UnitOfWork
from handoff import inbox, routing, teams
from handoff.models import OperatorPresence
from tests.support.people import person

AWAY_AFTER = timedelta(minutes=10)
RULES = routing.RoutingRules("first-line")


async def staff(sessions: SessionFactory, *specs: tuple[str, str, int]) -> dict[str, int]:
    """Operators in the team ``first-line`` with (login, presence, capacity); auto-assignment on."""
    ids: dict[str, int] = {}
    async with transaction(sessions) as session:
        session.add(Team(key="first-line", name="Первая линия"))
        await session.flush()
        await teams.set_auto_assign(session, "first-line", True)
        for login, status, capacity in specs:
            operator = await add_operator(session, login, "password-123456", name=login.title())
            await teams.add_member(session, "first-line", operator.id)
            await routing.set_presence(session, operator.id, status, capacity)
            ids[login] = operator.id
    return ids


async def waiting(sessions: SessionFactory, bus: InProcessBus, templates: Templates, name: str) -> Conversation:
    """A customer handed to a human; routing runs as the inbox's bus handler would run it."""
    someone = await person(sessions, name)
    async with UnitOfWork(sessions, bus) as uow:
        conversation = await get_conversation(uow.session, someone.conversation.id)
        await set_status(uow, conversation, ConversationStatus.WAITING)
    async with UnitOfWork(sessions, bus) as uow:
        await routing.route_waiting(uow, conversation.id, RULES, AWAY_AFTER, templates)
    async with sessions() as session:
        return await get_conversation(session, conversation.id)


async def test_auto_assignment_takes_turns_and_never_picks_away_or_offline(
    sessions: SessionFactory, bus: InProcessBus, templates: Templates
) -> None:
    ids = await staff(
        sessions,
        ("anna", "online", 1),
        ("boris", "online", 2),
        ("vera", "away", 5),
        ("gleb", "offline", 5),
        ("dina", "online", 5),  # online by choice, but inactive: counts as away
    )
    async with transaction(sessions) as session:
        await session.execute(
            update(OperatorPresence)
            .where(OperatorPresence.operator_id == ids["dina"])
            .values(seen_at=utcnow() - timedelta(hours=1))
        )
    assigned = [(await waiting(sessions, bus, templates, f"Клиент {n}")).assignee_id for n in range(4)]
    # By turn: anna, boris; anna is full (capacity 1), so boris again; then nobody fits.
    assert assigned == [ids["anna"], ids["boris"], ids["boris"], None]
    left = await waiting(sessions, bus, templates, "Клиент 5")
    assert left.status is ConversationStatus.WAITING
    assert left.assignee_id is None, "an unassigned chat stays waiting rather than going to someone away"
    assert left.team_id is not None, "it is in the default team's queue"


async def test_routing_is_off_unless_the_team_wants_it(
    sessions: SessionFactory, bus: InProcessBus, templates: Templates
) -> None:
    await staff(sessions, ("anna", "online", 3))
    async with transaction(sessions) as session:
        await teams.set_auto_assign(session, "first-line", False)
    conversation = await waiting(sessions, bus, templates, "Клиент")
    assert conversation.status is ConversationStatus.WAITING
    assert conversation.assignee_id is None


async def test_transfer_to_an_operator_or_a_team_and_bad_targets(
    sessions: SessionFactory, bus: InProcessBus, templates: Templates
) -> None:
    ids = await staff(sessions, ("anna", "offline", 3), ("boris", "offline", 3), ("vera", "offline", 3))
    conversation = await waiting(sessions, bus, templates, "Клиент")
    async with UnitOfWork(sessions, bus) as uow:
        anna = await uow.session.get_one(Operator, ids["anna"])
        await inbox.take(uow, conversation.id, anna, templates)
    async with transaction(sessions) as session:
        vera = await session.get_one(Operator, ids["vera"])
        vera.active = False
    async with UnitOfWork(sessions, bus) as uow:
        anna = await uow.session.get_one(Operator, ids["anna"])
        with pytest.raises(InvalidInput):
            await inbox.transfer(uow, conversation.id, anna, to_operator_id=ids["vera"])
        with pytest.raises(NotFound):
            await inbox.transfer(uow, conversation.id, anna, to_team_key="no-such-team")
    async with UnitOfWork(sessions, bus) as uow:
        anna = await uow.session.get_one(Operator, ids["anna"])
        await inbox.transfer(uow, conversation.id, anna, to_operator_id=ids["boris"], note="клиент VIP")
    async with sessions() as session:
        moved = await get_conversation(session, conversation.id)
        assert moved.assignee_id == ids["boris"]
        assert moved.status is ConversationStatus.ASSIGNED
    async with UnitOfWork(sessions, bus) as uow:
        boris = await uow.session.get_one(Operator, ids["boris"])
        await inbox.transfer(uow, conversation.id, boris, to_team_key="first-line")
    async with sessions() as session:
        back = await get_conversation(session, conversation.id)
        assert back.status is ConversationStatus.WAITING
        assert back.assignee_id is None
