"""The breach watch: at risk at 80 %, breached at the due time, escalations once per level, catching up."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from core.db import SessionFactory, transaction
from core.events import Event, InProcessBus
from tests.support.people import msk, person, uow
from tickets.breach import BreachWatch
from tickets.clock import Change
from tickets.desk import TicketDesk
from tickets.models import Actor, SlaState, Ticket, TicketEvent, TicketStatus

MONDAY_10 = msk(2026, 11, 30, 10, 0)  # standard P3: first response due 14:00 (at risk 13:12), resolution Wed 16:00


def collect(bus: InProcessBus) -> list[Event]:
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        seen.append(event)

    bus.subscribe(handler, "ticket.breach")
    return seen


async def open_ticket(sessions: SessionFactory, desk: TicketDesk, text: str = "Не работает ТВ") -> Ticket:
    who = await person(sessions)
    async with uow(sessions) as work:
        ticket, _ = await desk.tickets.open(work, who.customer, who.conversation, description=text, now=MONDAY_10)
    return ticket


async def events(sessions: SessionFactory, ticket_id: int) -> list[TicketEvent]:
    async with transaction(sessions) as session:
        stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        return list((await session.execute(stmt)).scalars())


async def load(sessions: SessionFactory, ticket_id: int) -> Ticket:
    async with transaction(sessions) as session:
        return await session.get_one(Ticket, ticket_id)


async def test_at_risk_then_breached_then_each_escalation_level(
    sessions: SessionFactory, desk: TicketDesk, bus: InProcessBus, teams: dict[str, int]
) -> None:
    seen = collect(bus)
    ticket = await open_ticket(sessions, desk)
    assert ticket.next_escalation_at == msk(2026, 11, 30, 13, 12)
    watch = BreachWatch(sessions, bus, desk.tickets)

    assert (await watch.run_once(msk(2026, 11, 30, 13, 0))).tickets == 0
    first = await watch.run_once(msk(2026, 11, 30, 13, 30))
    assert (first.at_risk, first.breached, first.escalated) == (1, 0, 0)
    stored = await load(sessions, ticket.id)
    assert stored.first_response_state is SlaState.AT_RISK
    assert stored.sla_state is SlaState.AT_RISK
    assert stored.next_escalation_at == msk(2026, 11, 30, 14, 0)

    second = await watch.run_once(msk(2026, 11, 30, 14, 5))
    assert (second.breached, second.escalated) == (1, 1)
    stored = await load(sessions, ticket.id)
    assert stored.sla_state is SlaState.BREACHED
    assert stored.breached_at == msk(2026, 11, 30, 14, 0)
    assert (stored.priority, stored.sla_priority) == ("P2", "P3"), "queue order rises, the promise stays"
    assert stored.resolution_due == msk(2026, 12, 2, 16, 0)
    assert stored.team_id == teams["first-line"]

    third = await watch.run_once(msk(2026, 11, 30, 16, 1))  # level 2: two business hours after the breach
    assert third.escalated == 1
    stored = await load(sessions, ticket.id)
    assert (stored.escalation_level, stored.team_id) == (2, teams["second-line"])
    assert (await watch.run_once(msk(2026, 11, 30, 16, 2))).tickets == 0

    await bus.drain()
    kinds = [(e.data["kind"], e.data.get("level")) for e in seen]
    assert kinds == [("at_risk", None), ("breached", None), ("escalated", 1), ("escalated", 2)]
    assert seen[1].data["text"] == (
        f"Заявка {ticket.number}: срок «первый ответ» нарушен — был до понедельника, 30 ноября, 14:00 (МСК)."
    )
    assert seen[3].data["team"] == "second-line"
    logged = [(e.kind, e.to_value) for e in await events(sessions, ticket.id)]
    assert logged == [
        ("created", "new"),
        ("sla_at_risk", "first_response"),
        ("sla_breached", "first_response"),
        ("priority", "P2"),
        ("escalated", "1"),
        ("team", "second-line"),
        ("escalated", "2"),
    ]


async def test_a_reply_in_time_lifts_the_risk(sessions: SessionFactory, desk: TicketDesk, operator_id: int) -> None:
    ticket = await open_ticket(sessions, desk)
    watch = BreachWatch(sessions, InProcessBus(), desk.tickets)
    await watch.run_once(msk(2026, 11, 30, 13, 30))
    async with uow(sessions) as work:
        row = await desk.tickets.get(work.session, ticket.id, lock=True)
        await desk.tickets.reply(work, row, "Смотрим", operator_id=operator_id, now=msk(2026, 11, 30, 13, 40))
    stored = await load(sessions, ticket.id)
    assert stored.first_response_state is SlaState.OK
    assert stored.sla_state is SlaState.OK
    assert stored.next_escalation_at is not None
    assert stored.next_escalation_at > msk(2026, 11, 30, 14, 0)
    result = await watch.run_once(msk(2026, 11, 30, 14, 30))
    assert result.breached == 0


async def test_two_watchers_racing_escalate_each_ticket_once_per_level(
    sessions: SessionFactory, desk: TicketDesk, teams: dict[str, int]
) -> None:
    tickets = [await open_ticket(sessions, desk, f"Не работает приставка {i}") for i in range(24)]
    later = MONDAY_10 + timedelta(days=3)
    first = BreachWatch(sessions, InProcessBus(), desk.tickets, batch=4)
    second = BreachWatch(sessions, InProcessBus(), desk.tickets, batch=4)
    results = await asyncio.gather(first.run_once(later), second.run_once(later), first.run_once(later))
    assert sum(r.escalated for r in results) == 2 * len(tickets)
    assert sum(r.tickets for r in results) == len(tickets)
    async with transaction(sessions) as session:
        rows = (
            await session.execute(
                select(TicketEvent.ticket_id, TicketEvent.to_value).where(TicketEvent.kind == "escalated")
            )
        ).all()
        stored = list((await session.execute(select(Ticket))).scalars())
    per_level = Counter((ticket_id, level) for ticket_id, level in rows)
    assert set(per_level.values()) == {1}
    assert len(per_level) == 2 * len(tickets)
    assert {t.escalation_level for t in stored} == {2}
    assert {t.priority for t in stored} == {"P2"}
    again = await asyncio.gather(first.run_once(later), second.run_once(later))
    assert sum(r.tickets for r in again) == 0


async def test_the_watch_catches_up_after_downtime(
    sessions: SessionFactory, desk: TicketDesk, bus: InProcessBus, teams: dict[str, int]
) -> None:
    seen = collect(bus)
    ticket = await open_ticket(sessions, desk)
    watch = BreachWatch(sessions, bus, desk.tickets)
    result = await watch.run_once(msk(2026, 12, 10, 12, 0))  # down for ten days
    assert (result.at_risk, result.breached, result.escalated) == (2, 2, 2)
    stored = await load(sessions, ticket.id)
    assert (stored.first_response_state, stored.resolution_state) == (SlaState.BREACHED, SlaState.BREACHED)
    assert stored.escalation_level == 2
    assert stored.team_id == teams["second-line"]
    assert stored.next_escalation_at is None
    # Each change is recorded at the instant it really happened, not when the watch woke up.
    timeline = [
        (e.kind, e.to_value, e.created_at)
        for e in await events(sessions, ticket.id)
        if e.kind.startswith(("sla", "esc"))
    ]
    assert timeline == [
        ("sla_at_risk", "first_response", msk(2026, 11, 30, 13, 12)),
        ("sla_breached", "first_response", msk(2026, 11, 30, 14, 0)),
        ("escalated", "1", msk(2026, 11, 30, 14, 0)),
        ("escalated", "2", msk(2026, 11, 30, 16, 0)),
        ("sla_at_risk", "resolution", msk(2026, 12, 2, 11, 12)),
        ("sla_breached", "resolution", msk(2026, 12, 2, 16, 0)),
    ]
    await bus.drain()
    assert [e.data["kind"] for e in seen].count("at_risk") == 0, "after downtime the team hears of breaches, not risks"
    assert (await watch.run_once(msk(2026, 12, 10, 12, 1))).tickets == 0


async def test_a_pending_ticket_is_not_watched(sessions: SessionFactory, desk: TicketDesk) -> None:
    ticket = await open_ticket(sessions, desk)
    async with uow(sessions) as work:
        row = await desk.tickets.get(work.session, ticket.id, lock=True)
        await desk.tickets.transition(
            work, row, TicketStatus.PENDING, actor=Actor.OPERATOR, now=msk(2026, 11, 30, 11, 0)
        )
    watch = BreachWatch(sessions, InProcessBus(), desk.tickets)
    assert (await watch.run_once(msk(2026, 12, 30, 12, 0))).tickets == 0
    assert (await load(sessions, ticket.id)).sla_state is SlaState.OK


async def test_a_ticket_that_fails_is_set_aside_and_the_others_go_on(
    sessions: SessionFactory, desk: TicketDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison, fine = await open_ticket(sessions, desk), await open_ticket(sessions, desk)
    advance = desk.tickets.clock.advance

    def failing(ticket: Ticket, now: datetime) -> list[Change]:
        if ticket.id == poison.id:
            raise RuntimeError("a bug")
        return advance(ticket, now)

    monkeypatch.setattr(desk.tickets.clock, "advance", failing)
    now = msk(2026, 11, 30, 14, 30)
    result = await BreachWatch(sessions, InProcessBus(), desk.tickets).run_once(now)
    assert (result.tickets, result.failed) == (1, 1)
    assert (await load(sessions, fine.id)).sla_state is SlaState.BREACHED
    set_aside = await load(sessions, poison.id)
    assert set_aside.next_escalation_at == now + timedelta(minutes=5)
    assert set_aside.sla_state is SlaState.OK


async def test_the_next_response_clock_runs_per_customer_message(
    sessions: SessionFactory, desk: TicketDesk, operator_id: int
) -> None:
    ticket = await open_ticket(sessions, desk)
    watch = BreachWatch(sessions, InProcessBus(), desk.tickets)

    async def reply(at: datetime) -> None:
        async with uow(sessions) as work:
            row = await desk.tickets.get(work.session, ticket.id, lock=True)
            await desk.tickets.reply(work, row, "Проверяем", operator_id=operator_id, now=at)

    async def customer_writes(at: datetime) -> None:
        async with uow(sessions) as work:
            row = await desk.tickets.get(work.session, ticket.id, lock=True)
            await desk.tickets.customer_message(work, row, "Всё ещё не работает", conversation=None, now=at)

    await reply(msk(2026, 11, 30, 11, 0))
    await customer_writes(msk(2026, 11, 30, 12, 0))
    stored = await load(sessions, ticket.id)
    assert stored.next_response_due == msk(2026, 11, 30, 16, 0)  # P3: 4 business hours for each answer
    result = await watch.run_once(msk(2026, 11, 30, 16, 30))
    assert [(c.kind, c.target) for _id, c in result.changes][:2] == [
        ("at_risk", "next_response"),
        ("breached", "next_response"),
    ]
    await reply(msk(2026, 11, 30, 16, 40))
    stored = await load(sessions, ticket.id)
    assert (stored.next_response_since, stored.next_response_due) == (None, None)
    await customer_writes(msk(2026, 12, 1, 10, 0))
    stored = await load(sessions, ticket.id)
    assert stored.next_response_state is SlaState.OK, "a new wait starts with a clean state"
    assert stored.next_response_due == msk(2026, 12, 1, 14, 0)
    assert stored.sla_state is SlaState.BREACHED, "the ticket's record keeps the earlier breach"
