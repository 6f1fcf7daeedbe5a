"""Mass incidents: auto-link by similar text, the suggestion band, "forming" alerts, resolving for everyone once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from core.db import SessionFactory, transaction
from core.errors import Conflict
from core.events import Event, InProcessBus
from core.models import Channel, utcnow
from core.uow import UnitOfWork
from tests.support.people import Person, add_conversation, outbound, person, uow
from tickets.desk import TicketDesk
from tickets.models import Actor, Incident, LinkState, Ticket, TicketIncident, TicketStatus

OUTAGE = {
    "title": "Нет интернета в Заречном районе",
    "service": "Домашний интернет",
    "description": "Авария на магистральном кабеле, у абонентов Заречного района нет интернета",
}
ABOUT_IT = "Нет интернета с утра, живу в Заречном районе"
ALSO_ABOUT_IT = "Нет интернета в Заречном районе"
NEAR_IT = "Пропал интернет дома, роутер горит красным"
UNRELATED = "Списали деньги дважды за тариф"


async def new_incident(sessions: SessionFactory, desk: TicketDesk, restoration: datetime | None = None) -> Incident:
    async with uow(sessions) as work:
        incident, _ = await desk.incidents.create(work, **OUTAGE, restoration_eta=restoration, operator_id=None)
    return incident


async def links(sessions: SessionFactory) -> dict[int, LinkState]:
    async with transaction(sessions) as session:
        rows = (await session.execute(select(TicketIncident))).scalars()
        return {row.ticket_id: row.state for row in rows}


async def open_for(sessions: SessionFactory, desk: TicketDesk, who: Person, text: str) -> Ticket:
    async with uow(sessions) as work:
        ticket, _text = await desk.tickets.open(work, who.customer, who.conversation, description=text)
    return ticket


async def test_a_ticket_about_an_open_incident_is_linked_and_gets_its_restoration_time(
    sessions: SessionFactory, desk: TicketDesk
) -> None:
    restoration = utcnow() + timedelta(hours=3)
    incident = await new_incident(sessions, desk, restoration)
    who = await person(sessions)
    opened = {}
    for text in (UNRELATED, NEAR_IT, ABOUT_IT):  # the band ticket before the profile learns from a link
        async with uow(sessions) as work:
            opened[text] = await desk.open_ticket(work, who.customer, who.conversation, description=text)
    linked = opened[ABOUT_IT]
    assert linked.incident is not None
    assert linked.incident.title == OUTAGE["title"]
    expected_eta = desk.notifier.customer_eta(restoration, who.customer)
    assert linked.incident.restoration_eta_text == expected_eta
    assert linked.eta_text == expected_eta, "the customer is told the restoration time, not the SLA due"
    assert linked.text.startswith(f"Заявка {linked.ticket.number} зарегистрирована. Это известная нам авария")
    assert opened[NEAR_IT].incident is None
    assert opened[UNRELATED].incident is None
    state = await links(sessions)
    assert state == {
        opened[ABOUT_IT].ticket.id: LinkState.LINKED,
        opened[NEAR_IT].ticket.id: LinkState.SUGGESTED,
    }
    async with transaction(sessions) as session:
        suggested = await desk.incidents.suggestions(session, opened[NEAR_IT].ticket.id)
    assert [i.id for i, _score in suggested] == [incident.id]


async def test_a_new_incident_links_recent_matching_tickets_and_tells_each_customer_once(
    sessions: SessionFactory, desk: TicketDesk
) -> None:
    anna, boris, vera = await person(sessions, "Анна"), await person(sessions, "Борис"), await person(sessions, "Вера")
    a1 = await open_for(sessions, desk, anna, ABOUT_IT)
    a2 = await open_for(sessions, desk, anna, ALSO_ABOUT_IT)
    b1 = await open_for(sessions, desk, boris, ABOUT_IT)
    v1 = await open_for(sessions, desk, vera, UNRELATED)
    async with uow(sessions) as work:
        incident, linked = await desk.incidents.create(
            work, **OUTAGE, restoration_eta=utcnow() + timedelta(hours=2), operator_id=None
        )
    assert linked == 3
    assert {k for k, v in (await links(sessions)).items() if v is LinkState.LINKED} == {a1.id, a2.id, b1.id}
    to_anna = await outbound(sessions, anna.conversation.id)
    assert len(to_anna) == 1
    assert a1.number in to_anna[0].text
    assert a2.number in to_anna[0].text
    assert len(await outbound(sessions, boris.conversation.id)) == 1
    assert await outbound(sessions, vera.conversation.id) == []
    assert v1.id not in await links(sessions)
    assert (incident.embedder, incident.dim) == (desk.tickets.embedder.name, desk.tickets.embedder.dim)


async def test_similar_unlinked_tickets_within_the_window_raise_one_forming_alert(
    sessions: SessionFactory, desk: TicketDesk, bus: InProcessBus, teams: dict[str, int]
) -> None:
    alerts: list[Event] = []

    async def on_alert(event: Event) -> None:
        alerts.append(event)

    bus.subscribe(on_alert, "incident.forming")
    now = utcnow()
    people = [await person(sessions, f"Клиент {i}") for i in range(6)]
    timeline = [
        (people[0], "Не работает интернет", now - timedelta(minutes=40)),  # outside the 30-minute window
        (people[1], "Интернет не работает уже час", now - timedelta(minutes=10)),
        (people[2], UNRELATED, now - timedelta(minutes=8)),
        (people[3], "У меня не работает интернет", now),
        (people[4], "Интернет не работает с утра", now + timedelta(minutes=5)),  # the third: alert
        (people[5], "Не работает интернет", now + timedelta(minutes=6)),  # joins the cluster quietly
    ]
    forming: list[bool] = []
    numbers: list[str] = []
    for who, text, at in timeline:
        async with UnitOfWork(sessions, bus) as work:
            ticket, embedded = await desk.tickets.open(work, who.customer, who.conversation, description=text, now=at)
            match = await desk.incidents.match_new_ticket(work, ticket, embedded, at)
        forming.append(match.forming)
        numbers.append(ticket.number)
    await bus.drain()
    assert forming == [False, False, False, False, True, True]
    assert len(alerts) == 1
    assert alerts[0].data["numbers"] == [numbers[1], numbers[3], numbers[4]]
    assert alerts[0].data["team_id"] == teams["first-line"]
    assert alerts[0].data["text"].startswith("Возможна массовая авария: 3 похожих заявок за 30 мин")


async def test_resolving_resolves_linked_tickets_and_tells_every_customer_exactly_once(
    sessions: SessionFactory, desk: TicketDesk
) -> None:
    incident = await new_incident(sessions, desk)
    anna, boris, vera = await person(sessions, "Анна"), await person(sessions, "Борис"), await person(sessions, "Вера")
    async with transaction(sessions) as session:
        anna_web = await add_conversation(session, anna.customer, Channel.WEB)
    a1 = await open_for(sessions, desk, anna, UNRELATED)
    async with uow(sessions) as work:
        a2, _ = await desk.tickets.open(work, anna.customer, anna_web, description="Нет интернета")
    b1 = await open_for(sessions, desk, boris, UNRELATED)
    v1 = await open_for(sessions, desk, vera, UNRELATED)
    async with uow(sessions) as work:
        for ticket in (a1, a2, b1, v1):
            row = await desk.tickets.get(work.session, ticket.id, lock=True)
            await desk.incidents.link(work, row, incident, operator_id=None, now=utcnow(), notify=False)
        vera_row = await desk.tickets.get(work.session, v1.id, lock=True)
        await desk.tickets.transition(work, vera_row, TicketStatus.CLOSED, actor=Actor.OPERATOR, notify=False)

    async def resolve() -> tuple[int, int]:
        async with uow(sessions) as work:
            _incident, resolved, told = await desk.incidents.resolve(work, incident.id, operator_id=None)
        return resolved, told

    outcomes = await asyncio.gather(resolve(), resolve(), return_exceptions=True)
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "tuple"]
    assert next(o for o in outcomes if isinstance(o, tuple)) == (3, 2)
    with pytest.raises(Conflict):
        await resolve()
    notices = [m for m in await outbound(sessions) if m.meta.get("notice") == "tickets.incident.resolved"]
    assert sorted(m.conversation_id for m in notices) == sorted([anna_web.id, boris.conversation.id])
    anna_notice = next(m for m in notices if m.conversation_id == anna_web.id)
    assert anna_notice.text == (
        f"Проблема «{OUTAGE['title']}» устранена. Заявки {a1.number}, {a2.number} решены. "
        "Оцените, пожалуйста, нашу работу от 1 до 5."
    )
    async with transaction(sessions) as session:
        statuses = {t.id: t.status for t in (await session.execute(select(Ticket))).scalars()}
    assert statuses == {
        a1.id: TicketStatus.RESOLVED,
        a2.id: TicketStatus.RESOLVED,
        b1.id: TicketStatus.RESOLVED,
        v1.id: TicketStatus.CLOSED,
    }


async def test_a_new_restoration_time_is_told_once_per_customer(sessions: SessionFactory, desk: TicketDesk) -> None:
    incident = await new_incident(sessions, desk)
    anna = await person(sessions, "Анна")
    tickets = [await open_for(sessions, desk, anna, UNRELATED) for _ in range(2)]
    async with uow(sessions) as work:
        for ticket in tickets:
            row = await desk.tickets.get(work.session, ticket.id, lock=True)
            await desk.incidents.link(work, row, incident, operator_id=None, now=utcnow(), notify=False)
    restoration = utcnow() + timedelta(hours=5)
    async with uow(sessions) as work:
        row = await desk.incidents.get(work.session, incident.id, lock=True)
        await desk.incidents.update(work, row, {"restoration_eta": restoration}, operator_id=None, now=utcnow())
    [notice] = await outbound(sessions, anna.conversation.id)
    eta = desk.notifier.customer_eta(restoration, anna.customer)
    assert notice.text == f"Новый срок восстановления по проблеме «{OUTAGE['title']}»: {eta}."
    async with transaction(sessions) as session:
        view = await desk.customer_ticket(session, anna.customer.id, tickets[0].number)
    assert view.eta_text == eta
