"""Tickets: numbers, priority, due times and the ETA, transitions, the paused clock, privacy, replies, CSAT."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import SessionFactory, transaction
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Author, Channel, Conversation, Customer
from tests.support.databases import count_statements
from tests.support.people import add_conversation, msk, outbound, person, uow
from tickets.desk import TicketDesk, TicketView
from tickets.models import Actor, Ticket, TicketEvent, TicketStatus
from tickets.numbers import format_number, parse_number, require_number


def test_numbers_are_formatted_and_read_as_people_type_them() -> None:
    assert format_number(123) == "T-000123"
    assert format_number(1_234_567) == "T-1234567"
    for typed in ("T-000123", "t-123", "123", "Т-123", "т 000123", "#123", "№ 123", " T-123 "):
        assert parse_number(typed) == 123, typed
    for garbage in ("", "T-", "abc", "T-12a", "0", "T-0", "12 34"):
        assert parse_number(garbage) is None, garbage
    with pytest.raises(NotFound):
        require_number("not a number")


async def test_tickets_created_at_once_get_unique_numbers_and_every_event(
    sessions: SessionFactory, desk: TicketDesk
) -> None:
    who = await person(sessions)

    async def open_one(i: int) -> str:
        async with uow(sessions) as work:
            opened = await desk.open_ticket(
                work, who.customer, who.conversation, description=f"Роутер номер {i} не включается после грозы"
            )
            return opened.ticket.number

    numbers = await asyncio.gather(*(open_one(i) for i in range(200)))
    assert len(set(numbers)) == 200
    assert all(re.fullmatch(r"T-\d{6}", n) for n in numbers)
    async with transaction(sessions) as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 200
        created = await session.scalar(
            select(func.count(func.distinct(TicketEvent.ticket_id))).where(TicketEvent.kind == "created")
        )
        assert created == 200


async def test_a_deleted_newest_ticket_does_not_give_its_number_away(
    sessions: SessionFactory, desk: TicketDesk
) -> None:
    who = await person(sessions)
    async with uow(sessions) as work:
        first = (await desk.open_ticket(work, who.customer, who.conversation, description="Не работает ТВ")).ticket
    async with transaction(sessions) as session:
        await session.delete(await session.get_one(Ticket, first.id))
    async with uow(sessions) as work:
        second = (await desk.open_ticket(work, who.customer, who.conversation, description="Не работает ТВ")).ticket
    assert second.number != first.number


@pytest.mark.parametrize(
    ("urgency", "impact", "priority"),
    [
        ("high", "many", "P1"),
        ("high", "one", "P2"),
        ("medium", "one", "P3"),
        ("low", "one", "P4"),
        ("low", "many", "P3"),
    ],
)
async def test_priority_comes_from_the_matrix(
    sessions: SessionFactory, desk: TicketDesk, urgency: str, impact: str, priority: str
) -> None:
    who = await person(sessions)
    async with uow(sessions) as work:
        opened = await desk.open_ticket(
            work, who.customer, who.conversation, description="Нет сигнала", urgency=urgency, impact=impact
        )
    assert opened.ticket.priority == priority


async def test_unknown_urgency_or_empty_description_is_refused(sessions: SessionFactory, desk: TicketDesk) -> None:
    who = await person(sessions)
    with pytest.raises(InvalidInput, match="urgency"):
        async with uow(sessions) as work:
            await desk.open_ticket(work, who.customer, who.conversation, description="x", urgency="urgent")
    with pytest.raises(InvalidInput, match="description"):
        async with uow(sessions) as work:
            await desk.open_ticket(work, who.customer, who.conversation, description="  \x00 ")


async def test_due_times_and_the_eta_in_russian(
    sessions: SessionFactory, desk: TicketDesk, teams: dict[str, int]
) -> None:
    who = await person(sessions)
    friday_evening = msk(2026, 11, 27, 17, 30)
    async with uow(sessions) as work:
        ticket, _ = await desk.tickets.open(
            work, who.customer, who.conversation, description="Интернет медленный по вечерам", now=friday_evening
        )
        view = await desk.view(work.session, ticket, who.customer)
    assert ticket.priority == "P3"
    assert ticket.first_response_due == msk(2026, 11, 30, 12, 30)
    assert ticket.resolution_due == msk(2026, 12, 2, 14, 30)
    assert view.eta_text == "до среды, 2 декабря, 14:30 (МСК)"
    assert view.last_action == "Заявка зарегистрирована"
    assert ticket.team_id == teams["first-line"]
    assert ticket.subject == "Интернет медленный по вечерам"


async def test_premium_eta_in_english_runs_around_the_clock(sessions: SessionFactory, desk: TicketDesk) -> None:
    who = await person(sessions, "Ann", plan="premium", language="en")
    async with uow(sessions) as work:
        ticket, _ = await desk.tickets.open(
            work,
            who.customer,
            who.conversation,
            description="No internet in the whole building",
            urgency="high",
            impact="many",
            category="billing",
            now=msk(2026, 11, 27, 23, 30),
        )
        view = await desk.view(work.session, ticket, who.customer)
    assert ticket.priority == "P1"
    assert ticket.resolution_due == msk(2026, 11, 28, 3, 30)
    assert view.eta_text == "by Saturday, 28 November, 03:30 MSK"


async def test_open_ticket_tells_number_and_eta(sessions: SessionFactory, desk: TicketDesk) -> None:
    who = await person(sessions)
    async with uow(sessions) as work:
        opened = await desk.open_ticket(work, who.customer, who.conversation, description="Не работает пульт от ТВ")
    assert opened.ticket.status == TicketStatus.NEW
    assert opened.eta_text is not None
    assert opened.eta_text.endswith("(МСК)")
    assert opened.text == f"Заявка {opened.ticket.number} зарегистрирована. Решим её {opened.eta_text}."
    assert opened.incident is None
    assert opened.ticket.resolution_due is not None


async def test_illegal_transitions_are_refused_with_from_and_to(sessions: SessionFactory, desk: TicketDesk) -> None:
    who = await person(sessions)
    async with uow(sessions) as work:
        ticket, _ = await desk.tickets.open(work, who.customer, who.conversation, description="Не работает ТВ")
        await desk.tickets.transition(work, ticket, TicketStatus.RESOLVED, actor=Actor.OPERATOR)
        with pytest.raises(Conflict) as caught:
            await desk.tickets.transition(work, ticket, TicketStatus.PENDING, actor=Actor.OPERATOR)
        assert caught.value.details["from"] == "resolved"
        assert caught.value.details["to"] == "pending"
        await desk.tickets.transition(work, ticket, TicketStatus.CLOSED, actor=Actor.OPERATOR)
        with pytest.raises(Conflict) as caught:
            await desk.tickets.transition(work, ticket, TicketStatus.OPEN, actor=Actor.OPERATOR)
        assert (caught.value.details["from"], caught.value.details["to"]) == ("closed", "open")


async def test_pending_stops_the_clock_and_resuming_moves_the_due_time(
    sessions: SessionFactory, desk: TicketDesk
) -> None:
    who = await person(sessions)
    monday = msk(2026, 11, 30, 10, 0)
    async with uow(sessions) as work:
        ticket, _ = await desk.tickets.open(
            work, who.customer, who.conversation, description="Не работает ТВ", now=monday
        )
    assert ticket.resolution_due == msk(2026, 12, 2, 16, 0)  # 24 business hours
    async with uow(sessions) as work:
        ticket = await desk.tickets.get(work.session, ticket.id, lock=True)
        await desk.tickets.transition(
            work, ticket, TicketStatus.PENDING, actor=Actor.OPERATOR, now=monday + timedelta(hours=2)
        )
    assert ticket.resolution_due is None
    assert ticket.next_escalation_at is None
    async with uow(sessions) as work:
        ticket = await desk.tickets.get(work.session, ticket.id, lock=True)
        await desk.tickets.transition(
            work, ticket, TicketStatus.OPEN, actor=Actor.OPERATOR, now=msk(2026, 12, 1, 12, 0)
        )
    # 2 hours used before the pause, 22 left from Tuesday 12:00: Tuesday 6 h, Wednesday 9 h, Thursday 7 h.
    assert ticket.resolution_due == msk(2026, 12, 3, 16, 0)
    assert ticket.next_escalation_at is not None
    texts = [m.text for m in await outbound(sessions, who.conversation.id)]
    assert texts == [
        f"По заявке {ticket.number} нам нужен ваш ответ. Ответьте прямо здесь, сообщением. "
        "Пока мы ждём ответа, срок решения не идёт.",
        f"Продолжаем работу по заявке {ticket.number}. Решим её до четверга, 3 декабря, 16:00 (МСК).",
    ]


async def test_a_customer_sees_only_their_own_tickets(sessions: SessionFactory, desk: TicketDesk) -> None:
    anna, boris = await person(sessions, "Анна"), await person(sessions, "Борис")
    async with uow(sessions) as work:
        older = (await desk.open_ticket(work, anna.customer, anna.conversation, description="Не работает ТВ")).ticket
        newer = (await desk.open_ticket(work, anna.customer, anna.conversation, description="Нет интернета")).ticket
        theirs = (await desk.open_ticket(work, boris.customer, boris.conversation, description="Шумит роутер")).ticket
    async with transaction(sessions) as session:
        mine = await desk.customer_tickets(session, anna.customer.id)
        assert [v.number for v in mine] == [newer.number, older.number]
        own = await desk.customer_ticket(session, anna.customer.id, f"t-{older.id}")
        assert own.number == older.number
        assert own.eta_text is not None
        assert (await desk.customer_ticket(session, anna.customer.id, str(older.id))).number == older.number
        for number in (theirs.number, "T-999999", "что-то"):
            with pytest.raises(NotFound) as caught:
                await desk.customer_ticket(session, anna.customer.id, number)
            assert caught.value.message == "no such ticket"
    with pytest.raises(NotFound):
        async with uow(sessions) as work:
            await desk.add_to_ticket(work, anna.customer.id, theirs.number, "это моё")
    with pytest.raises(NotFound):
        async with uow(sessions) as work:
            await desk.cancel_ticket(work, anna.customer.id, theirs.number)
    async with transaction(sessions) as session:
        assert (await session.get_one(Ticket, theirs.id)).status is TicketStatus.NEW


async def test_reply_goes_to_the_latest_conversation_and_a_note_is_never_delivered(
    sessions: SessionFactory, desk: TicketDesk, operator_id: int
) -> None:
    who = await person(sessions)
    async with uow(sessions) as work:
        ticket, _ = await desk.tickets.open(work, who.customer, who.conversation, description="Не приходит счёт")
    async with transaction(sessions) as session:
        web = await add_conversation(session, who.customer, Channel.WEB)
    async with uow(sessions) as work:
        await desk.add_to_ticket(work, who.customer.id, ticket.number, "Пишу из чата на сайте", conversation=web)
    async with transaction(sessions) as session:
        # The customer's inbound message in the web chat bumps it (core.store does this on every message).
        row = await session.get_one(Conversation, web.id)
        row.updated_at = row.updated_at + timedelta(minutes=1)
    async with uow(sessions) as work:
        ticket = await desk.tickets.get(work.session, ticket.id, lock=True)
        now = ticket.created_at
        await desk.tickets.note(work, ticket, "Клиент VIP, проверить вручную", operator_id=operator_id, now=now)
        await desk.tickets.reply(work, ticket, "Счёт отправлен повторно", operator_id=operator_id, now=now)
    messages = await outbound(sessions)
    assert [(m.conversation_id, m.author, m.text) for m in messages] == [
        (web.id, Author.OPERATOR, f"Ответ по заявке {ticket.number}:\nСчёт отправлен повторно")
    ]
    async with transaction(sessions) as session:
        stored = await session.get_one(Ticket, ticket.id)
        assert stored.status is TicketStatus.OPEN
        assert stored.first_responded_at is not None
        view = await desk.customer_ticket(session, who.customer.id, ticket.number)
        assert view.last_action == "Ответ оператора: Счёт отправлен повторно"
        kinds = list(await session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)))
        assert kinds.count("note") == 1
        assert "conversation" in kinds


async def test_new_priority_replans_and_the_customer_hears_the_new_eta(
    sessions: SessionFactory, desk: TicketDesk
) -> None:
    who = await person(sessions)
    monday = msk(2026, 11, 30, 10, 0)
    async with uow(sessions) as work:
        ticket, _ = await desk.tickets.open(
            work, who.customer, who.conversation, description="Не работает ТВ", now=monday
        )
        await desk.tickets.update(work, ticket, {"priority": "P1"}, operator_id=None, now=monday)
    assert ticket.priority == "P1"
    assert ticket.sla_priority == "P1"
    assert ticket.resolution_due == msk(2026, 11, 30, 18, 0)  # 8 business hours from 10:00
    [message] = await outbound(sessions, who.conversation.id)
    assert (
        message.text
        == f"Срок решения заявки {ticket.number} изменился: решим её до понедельника, 30 ноября, 18:00 (МСК)."
    )
    async with uow(sessions) as work:
        ticket = await desk.tickets.get(work.session, ticket.id, lock=True)
        await desk.tickets.update(work, ticket, {"urgency": "low", "impact": "one"}, operator_id=None, now=monday)
    assert ticket.priority == "P4"


async def test_adding_wakes_a_pending_ticket_and_cancel_closes_it_once(
    sessions: SessionFactory, desk: TicketDesk
) -> None:
    who = await person(sessions)
    async with uow(sessions) as work:
        ticket, _ = await desk.tickets.open(work, who.customer, who.conversation, description="Не работает ТВ")
        await desk.tickets.transition(work, ticket, TicketStatus.PENDING, actor=Actor.OPERATOR)
    async with uow(sessions) as work:
        view = await desk.add_to_ticket(work, who.customer.id, ticket.number, "Номер договора 12345678")
    assert view.status is TicketStatus.OPEN
    assert view.last_action == "Вы дополнили заявку: Номер договора 12345678"
    async with uow(sessions) as work:
        view = await desk.cancel_ticket(work, who.customer.id, ticket.number)
    assert view.status is TicketStatus.CLOSED
    assert view.eta_text is None
    with pytest.raises(Conflict):
        async with uow(sessions) as work:
            await desk.cancel_ticket(work, who.customer.id, ticket.number)
    with pytest.raises(Conflict):
        async with uow(sessions) as work:
            await desk.add_to_ticket(work, who.customer.id, ticket.number, "ещё")
    async with transaction(sessions) as session:
        assert await desk.customer_tickets(session, who.customer.id) == []
        assert len(await desk.customer_tickets(session, who.customer.id, open_only=False)) == 1


async def test_unknown_plan_falls_back_to_the_default(sessions: SessionFactory, desk: TicketDesk) -> None:
    who = await person(sessions, plan="gold")
    async with uow(sessions) as work:
        ticket, _ = await desk.tickets.open(
            work, who.customer, who.conversation, description="Не работает ТВ", now=msk(2026, 11, 30, 10, 0)
        )
    assert ticket.plan == "standard"
    async with transaction(sessions) as session:
        assert (await session.get_one(Customer, who.customer.id)).plan == "gold"


async def test_the_customers_ticket_list_does_not_query_per_ticket(
    sessions: SessionFactory, engine: AsyncEngine, desk: TicketDesk, operator_id: int
) -> None:
    who = await person(sessions)

    async def open_tickets(count: int) -> None:
        for i in range(count):
            async with uow(sessions) as work:
                ticket, _ = await desk.tickets.open(
                    work, who.customer, who.conversation, description=f"Роутер номер {i} не включается"
                )
                await desk.tickets.reply(work, ticket, f"Ответ {i}", operator_id=operator_id, now=ticket.created_at)

    async def listed() -> tuple[int, list[TicketView]]:
        async with transaction(sessions) as session:
            with count_statements(engine) as statements:
                views = await desk.customer_tickets(session, who.customer.id)
        return len(statements), views

    await open_tickets(1)
    one, views = await listed()
    assert [v.last_action for v in views] == ["Ответ оператора: Ответ 0"]
    await open_tickets(6)
    restoration = msk(2030, 1, 10, 12, 0)
    async with uow(sessions) as work:
        incident, _linked = await desk.incidents.create(
            work, title="Авария на магистрали", restoration_eta=restoration, operator_id=operator_id
        )
        newest = await desk.tickets.get(work.session, views[0].id + 6, lock=True)
        await desk.incidents.link(work, newest, incident, operator_id=operator_id, now=newest.created_at, notify=False)
    many, views = await listed()
    assert len(views) == 7
    assert [v.last_action for v in views[1:3]] == ["Ответ оператора: Ответ 4", "Ответ оператора: Ответ 3"]
    assert views[0].eta_text == desk.notifier.customer_eta(restoration, who.customer), "the incident's ETA"
    assert views[1].eta_text == desk.notifier.customer_eta(views[1].resolution_due, who.customer)
    assert many == one <= 2, f"{one} queries for one ticket, {many} for seven"
