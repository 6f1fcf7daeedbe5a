"""Teams and routing on both databases: auto-assignment by turn among online operators under capacity,
never to away (chosen or inactive) or offline ones; transfer to an operator or a team."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from core.db import SessionFactory, transaction
from core.errors import Conflict, InvalidInput, NotFound
from core.events import InProcessBus
from core.models import (
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryState,
    Direction,
    Message,
    Operator,
    Team,
    utcnow,
)
from core.operators import add_operator
from core.store import get_conversation, set_status
from core.templates import Templates
from core.uow import UnitOfWork
from handoff import inbox, routing, teams
from handoff.models import OperatorPresence
from tests.support.people import person
from tickets.desk import TicketDesk

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


async def say(sessions: SessionFactory, conversation: Conversation, text: str, intent: str) -> None:
    """A customer message the engine understood as ``intent``."""
    async with transaction(sessions) as session:
        row = await session.get_one(Conversation, conversation.id)
        row.last_seq += 1
        session.add(
            Message(
                conversation_id=row.id,
                seq=row.last_seq,
                direction=Direction.INBOUND,
                author=Author.CUSTOMER,
                channel=row.channel,
                chat_id=row.chat_id,
                text=text,
                meta={"intent": intent},
                delivery_state=DeliveryState.RECEIVED,
            )
        )


async def hand_over(sessions: SessionFactory, bus: InProcessBus, templates: Templates, conversation_id: int) -> Team:
    async with UnitOfWork(sessions, bus) as uow:
        conversation = await get_conversation(uow.session, conversation_id)
        await set_status(uow, conversation, ConversationStatus.WAITING)
    async with UnitOfWork(sessions, bus) as uow:
        await routing.route_waiting(uow, conversation_id, INTENT_RULES, AWAY_AFTER, templates)
    async with sessions() as session:
        conversation = await get_conversation(session, conversation_id)
        assert conversation.team_id is not None
        return await session.get_one(Team, conversation.team_id)


INTENT_RULES = routing.RoutingRules("first-line", {"complaint": "second-line", "ticket_status": "billing"})


async def test_a_conversations_team_comes_from_its_ticket_then_its_intent_then_the_default(
    sessions: SessionFactory, bus: InProcessBus, templates: Templates, desk: TicketDesk
) -> None:
    async with transaction(sessions) as session:
        for key in ("first-line", "second-line", "billing"):
            await teams.create_team(session, key, key.title())
    # No listed intent: the default team.
    plain = await person(sessions, "Клиент без темы")
    await say(sessions, plain.conversation, "позовите оператора", "talk_to_human")
    assert (await hand_over(sessions, bus, templates, plain.conversation.id)).key == "first-line"
    # The latest message with a listed intent decides, even when later messages only ask for a human.
    angry = await person(sessions, "Недовольный клиент")
    await say(sessions, angry.conversation, "где моя заявка", "ticket_status")
    await say(sessions, angry.conversation, "я буду жаловаться", "complaint")
    await say(sessions, angry.conversation, "позовите человека", "talk_to_human")
    assert (await hand_over(sessions, bus, templates, angry.conversation.id)).key == "second-line"
    # An open ticket opened in the conversation wins over the intent: its category routed it to billing.
    with_ticket = await person(sessions, "Клиент с заявкой")
    await say(sessions, with_ticket.conversation, "я буду жаловаться", "complaint")
    async with UnitOfWork(sessions, bus) as uow:
        customer = await uow.session.get_one(Customer, with_ticket.customer.id)
        conversation = await get_conversation(uow.session, with_ticket.conversation.id)
        await desk.tickets.open(uow, customer, conversation, description="списали деньги дважды", category="billing")
    assert (await hand_over(sessions, bus, templates, with_ticket.conversation.id)).key == "billing"
    # A disabled team is skipped: the intent's team is off, so the default takes the conversation.
    async with transaction(sessions) as session:
        await teams.set_team_active(session, "second-line", False)
    later = await person(sessions, "Ещё один недовольный")
    await say(sessions, later.conversation, "я буду жаловаться", "complaint")
    assert (await hand_over(sessions, bus, templates, later.conversation.id)).key == "first-line"


async def test_an_operator_coming_online_or_freeing_capacity_gets_the_oldest_waiting_chats(
    sessions: SessionFactory, bus: InProcessBus, templates: Templates
) -> None:
    ids = await staff(sessions, ("anna", "offline", 1))
    first = await waiting(sessions, bus, templates, "Первый")
    second = await waiting(sessions, bus, templates, "Второй")
    assert (first.assignee_id, second.assignee_id) == (None, None), "nobody online: both wait"
    async with transaction(sessions) as session:
        await routing.set_presence(session, ids["anna"], "online")
    assert await routing.offer_waiting(sessions, bus, RULES, AWAY_AFTER, templates) == 1
    async with sessions() as session:
        assert (await get_conversation(session, first.id)).assignee_id == ids["anna"], "the oldest first"
        assert (await get_conversation(session, second.id)).status is ConversationStatus.WAITING, "capacity 1"
    async with UnitOfWork(sessions, bus) as uow:
        anna = await uow.session.get_one(Operator, ids["anna"])
        await inbox.close(uow, first.id, anna, templates)
    assert await routing.offer_waiting(sessions, bus, RULES, AWAY_AFTER, templates) == 1
    async with sessions() as session:
        assert (await get_conversation(session, second.id)).assignee_id == ids["anna"]


async def test_teams_refuse_bad_keys_duplicates_and_transfers_to_a_disabled_team(
    sessions: SessionFactory, bus: InProcessBus, templates: Templates
) -> None:
    ids = await staff(sessions, ("anna", "offline", 3))
    async with transaction(sessions) as session:
        with pytest.raises(InvalidInput):
            await teams.create_team(session, "Bad Key!", "Плохой ключ")
        with pytest.raises(InvalidInput):
            await teams.create_team(session, "empty-name", "   ")
        with pytest.raises(Conflict):
            await teams.create_team(session, "first-line", "Ещё одна первая линия")
        await teams.create_team(session, "roaming", "Роуминг")
        await teams.add_member(session, "roaming", ids["anna"])  # anna is in two teams now
        with pytest.raises(InvalidInput):
            await teams.set_capacity(session, ids["anna"], 51)
        with pytest.raises(NotFound):
            await teams.set_auto_assign(session, "no-such-team", True)
        await teams.set_team_active(session, "roaming", False)
    async with sessions() as session:
        views, _operators = await teams.overview(session)
    member_of = sorted(v.team.key for v in views if any(m.id == ids["anna"] for m in v.members))
    assert member_of == ["first-line", "roaming"]
    conversation = await waiting(sessions, bus, templates, "Клиент")
    async with UnitOfWork(sessions, bus) as uow:
        anna = await uow.session.get_one(Operator, ids["anna"])
        await inbox.take(uow, conversation.id, anna, templates)
    async with UnitOfWork(sessions, bus) as uow:
        anna = await uow.session.get_one(Operator, ids["anna"])
        with pytest.raises(InvalidInput):
            await inbox.transfer(uow, conversation.id, anna, to_team_key="roaming", note="в роуминг")
    async with sessions() as session:
        held = await get_conversation(session, conversation.id)
        assert (held.status, held.assignee_id) == (ConversationStatus.ASSIGNED, ids["anna"])
