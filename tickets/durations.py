"""A ticket's first-response and resolution durations, stored when the facts become known.

The reports aggregate these columns in SQL instead of replaying every ticket's business calendar on each
page. They are the definitions ``docs/metrics.md`` gives for the humans' measures:

- first response: opening (``sla_started_at``) → ``first_responded_at``;
- resolution: opening → ``resolved_at``;
- calendar minutes: real elapsed time, pauses included (what the customer lived through);
- business minutes: working minutes of the plan's calendar, with the clock stopped while the ticket waited
  for the customer (its pauses, an open pause ending at the instant measured).

A duration is ``None`` while its fact is unknown, and goes back to ``None`` when the fact is withdrawn (a
resolved ticket reopened); :meth:`tickets.clock.SlaClock.replan` calls :func:`record_durations` after every
change, so the columns follow the ticket.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select

from core.db import SessionFactory, transaction
from sla.calendar import Calendar, Pause, elapsed_business_minutes
from sla.policy import SlaPolicy
from tickets.models import Ticket

__all__ = ["backfill_durations", "business_minutes", "calendar_minutes", "record_durations"]


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive UTC instants.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def calendar_minutes(start: datetime, end: datetime) -> float:
    return max(0.0, (_utc(end) - _utc(start)).total_seconds() / 60)


def _pauses_until(raw: list[Any] | None, until: datetime) -> list[Pause]:
    """The stored pauses up to ``until`` (the instant the duration is measured to): an open pause ends there,
    and a pause that began later (the first response measured on a ticket resolved since) does not count."""
    pauses: list[Pause] = []
    for since_text, end_text in raw or []:
        since = datetime.fromisoformat(since_text)
        if since >= until:
            continue
        end = until if end_text is None else min(datetime.fromisoformat(end_text), until)
        pauses.append((since, end))
    return pauses


def business_minutes(calendar: Calendar, start: datetime, end: datetime, pauses: list[Any] | None) -> int:
    end = _utc(end)
    return elapsed_business_minutes(calendar, _utc(start), end, _pauses_until(pauses, end))


def record_durations(ticket: Ticket, calendar: Calendar) -> None:
    """Set (or clear) the four duration columns from the ticket's instants and pauses."""
    started, responded, resolved = ticket.sla_started_at, ticket.first_responded_at, ticket.resolved_at
    if responded is None:
        ticket.first_response_minutes = None
        ticket.first_response_business_minutes = None
    else:
        ticket.first_response_minutes = calendar_minutes(started, responded)
        ticket.first_response_business_minutes = business_minutes(calendar, started, responded, ticket.pauses)
    if resolved is None:
        ticket.resolution_minutes = None
        ticket.resolution_business_minutes = None
    else:
        ticket.resolution_minutes = calendar_minutes(started, resolved)
        ticket.resolution_business_minutes = business_minutes(calendar, started, resolved, ticket.pauses)


def plan_calendar(sla: SlaPolicy, plan: str) -> Calendar:
    """The calendar of the ticket's plan; a plan since removed from the YAML falls back to the default one."""
    return sla.calendar_for(plan if plan in sla.plans else sla.default_plan)


async def backfill_durations(factory: SessionFactory, sla: SlaPolicy, batch: int = 1000) -> int:
    """Fill the durations of tickets whose facts are known but not yet stored (tickets older than the columns).

    Idempotent: a second run finds nothing to do. Works in batches by id, one transaction each, so a large
    history neither holds one long transaction nor loads every ticket at once.
    """
    missing = or_(
        Ticket.first_responded_at.is_not(None) & Ticket.first_response_minutes.is_(None),
        Ticket.resolved_at.is_not(None) & Ticket.resolution_minutes.is_(None),
    )
    filled, after = 0, 0
    while True:
        async with transaction(factory) as session:
            stmt = select(Ticket).where(missing, Ticket.id > after).order_by(Ticket.id).limit(batch)
            tickets = list((await session.scalars(stmt)).all())
            for ticket in tickets:
                record_durations(ticket, plan_calendar(sla, ticket.plan))
        if not tickets:
            return filled
        filled += len(tickets)
        after = tickets[-1].id
