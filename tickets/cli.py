"""``frontline sla due``, ``frontline ticket list|show|backfill-durations``, ``frontline team list|add``."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from core.cli import command, print_json, with_sessions
from core.datafiles import DataFileError
from core.db import SessionFactory, transaction
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Team
from core.settings import Settings
from sla.policy import Priority, SlaPolicy
from tickets.durations import backfill_durations
from tickets.models import Ticket, TicketStatus
from tickets.numbers import require_number
from tickets.queries import TicketFilter, list_tickets
from tickets.schemas import summary, ticket_detail

__all__ = ["register"]


def register(subparsers: Any) -> None:
    sla = subparsers.add_parser("sla", help="SLA plans and due times").add_subparsers(dest="action", required=True)
    due = sla.add_parser("due", help="first-response and resolution due times of a plan and priority, as JSON")
    due.add_argument("--plan", required=True, help="plan name, e.g. standard or premium")
    due.add_argument("--priority", required=True, help="P1..P4")
    due.add_argument("--from", dest="start", default=None, help="start instant, ISO 8601 with an offset (default: now)")
    command(due, cmd_sla_due)

    ticket = subparsers.add_parser("ticket", help="tickets").add_subparsers(dest="action", required=True)
    listing = ticket.add_parser("list", help="list tickets, newest first")
    listing.add_argument(
        "--status", action="append", default=[], help="new, open, pending, resolved, closed (repeatable)"
    )
    listing.add_argument("--priority", action="append", default=[], help="P1..P4 (repeatable)")
    listing.add_argument("--breached", action="store_true", help="only tickets that breached their SLA")
    listing.add_argument("--search", default=None, help="number or text")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    command(listing, cmd_ticket_list)
    show = ticket.add_parser("show", help="one ticket with its SLA and events, as JSON")
    show.add_argument("number", help="T-000123 or 123")
    command(show, cmd_ticket_show)
    backfill = ticket.add_parser(
        "backfill-durations", help="store first-response and resolution durations of tickets that lack them"
    )
    command(backfill, cmd_ticket_backfill)

    team = subparsers.add_parser("team", help="teams tickets are routed to").add_subparsers(
        dest="action", required=True
    )
    command(team.add_parser("list", help="list teams"), cmd_team_list)
    add = team.add_parser("add", help="add a team")
    add.add_argument("key", help="e.g. second-line (data/tickets.yml and escalation.yml refer to it)")
    add.add_argument("name", help="display name")
    command(add, cmd_team_add)


def parse_start(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"--from {text!r} is not an ISO 8601 date and time (e.g. 2026-11-27T17:30:00+03:00)"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"--from {text!r} has no timezone: add an offset, e.g. {text}+03:00")
    return value


def due_times(sla: SlaPolicy, plan: str, priority: str, start: datetime) -> dict[str, Any]:
    if plan not in sla.plans:
        raise InvalidInput(f"unknown plan {plan!r}; plans: {', '.join(sorted(sla.plans))}")
    try:
        level = Priority(priority.upper())
    except ValueError:
        raise InvalidInput(
            f"unknown priority {priority!r}; priorities: {', '.join(p.value for p in Priority)}"
        ) from None
    calendar = sla.calendar_for(plan)
    targets = sla.targets(plan, level)
    due = sla.due_times(plan, level, start)

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(calendar.tz).isoformat()

    return {
        "plan": plan,
        "plan_names": dict(sla.plan(plan).names),
        "priority": level.value,
        "calendar": calendar.name,
        "timezone": calendar.tz.key,
        "from": start.isoformat(),
        "first_response_due": iso(due.first_response),
        "next_response_due": iso(due.next_response),
        "resolution_due": iso(due.resolution),
        "targets_minutes": {
            "first_response": targets.first_response,
            "next_response": targets.next_response,
            "resolution": targets.resolution,
        },
    }


async def cmd_sla_due(args: argparse.Namespace, settings: Settings) -> int:
    start = parse_start(args.start)
    try:
        sla = SlaPolicy.load(settings.data_dir)
    except DataFileError as exc:
        raise InvalidInput(str(exc)) from None
    print_json(due_times(sla, args.plan, args.priority, start))
    return 0


async def cmd_ticket_backfill(args: argparse.Namespace, settings: Settings) -> int:
    try:
        sla = SlaPolicy.load(settings.data_dir)
    except DataFileError as exc:
        raise InvalidInput(str(exc)) from None
    filled = await with_sessions(settings, lambda factory: backfill_durations(factory, sla))
    print(f"durations stored for {filled} tickets")
    return 0


async def cmd_ticket_list(args: argparse.Namespace, settings: Settings) -> int:
    try:
        statuses = [TicketStatus(s) for value in args.status for s in value.split(",") if s]
        priorities = [Priority(p.upper()) for value in args.priority for p in value.split(",") if p]
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    flt = TicketFilter(
        statuses=statuses,
        priorities=priorities,
        breached=True if args.breached else None,
        text=args.search,
        per_page=max(1, min(args.limit, 1000)),
    )

    async def work(factory: SessionFactory) -> int:
        async with transaction(factory) as session:
            rows, has_more = await list_tickets(session, flt)
        items = [summary(row) for row in rows]
        if args.json:
            print_json([item.model_dump(mode="json") for item in items])
            return 0
        for item in items:
            due = item.resolution_due.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ") if item.resolution_due else "-"
            print(
                f"{item.number}\t{item.status.value}\t{item.priority.value}\t{item.sla_state.value}\t"
                f"{item.team or '-'}\t{due}\t{item.subject}"
            )
        if has_more:
            print(f"… more than {len(items)}; use --limit or filters")
        return 0

    return await with_sessions(settings, work)


async def cmd_ticket_show(args: argparse.Namespace, settings: Settings) -> int:
    ticket_id = require_number(args.number)

    async def work(factory: SessionFactory) -> int:
        async with transaction(factory) as session:
            ticket = await session.get(Ticket, ticket_id)
            if ticket is None:
                raise NotFound(f"no ticket {args.number}")
            detail = await ticket_detail(session, ticket)
        print_json(detail.model_dump(mode="json"))
        return 0

    return await with_sessions(settings, work)


async def cmd_team_list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(factory: SessionFactory) -> int:
        async with transaction(factory) as session:
            for team in (await session.execute(select(Team).order_by(Team.key))).scalars():
                print(f"{team.key}\t{team.name}")
        return 0

    return await with_sessions(settings, work)


async def cmd_team_add(args: argparse.Namespace, settings: Settings) -> int:
    async def work(factory: SessionFactory) -> int:
        async with transaction(factory) as session:
            if (await session.execute(select(Team).where(Team.key == args.key))).scalar_one_or_none() is not None:
                raise Conflict(f"team {args.key!r} exists")
            session.add(Team(key=args.key, name=args.name))
        print(f"added team {args.key}")
        return 0

    return await with_sessions(settings, work)
