"""The ticket's event log and the bus events that tell other workers a ticket changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.events import Event
from core.models import utcnow
from tickets.events import PUBLIC_KINDS, TICKET_CHANGED
from tickets.models import Actor, Ticket, TicketEvent

__all__ = ["changed_event", "record"]


def record(
    session: AsyncSession,
    ticket: Ticket,
    kind: str,
    *,
    actor: Actor = Actor.SYSTEM,
    operator_id: int | None = None,
    before: str | None = None,
    after: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> TicketEvent:
    """Add one event to the ticket's log (flushed with the rest of the unit of work)."""
    event = TicketEvent(
        ticket_id=ticket.id,
        actor=actor,
        operator_id=operator_id,
        kind=kind,
        from_value=before,
        to_value=after,
        public=kind in PUBLIC_KINDS,
        data=data or {},
        created_at=at or utcnow(),
    )
    session.add(event)
    return event


def changed_event(ticket: Ticket, kind: str, **extra: Any) -> Event:
    return Event(
        name=TICKET_CHANGED,
        data={
            "ticket_id": ticket.id,
            "number": ticket.number,
            "kind": kind,
            "status": ticket.status.value,
            "priority": ticket.priority.value,
            "team_id": ticket.team_id,
            "assignee_id": ticket.assignee_id,
            "customer_id": ticket.customer_id,
            **extra,
        },
    )
