"""Ticket statuses: the transition table and what each status does to the SLA clock (Zammad's state types)."""

from __future__ import annotations

from collections.abc import Mapping

from core.errors import Conflict
from tickets.models import TicketStatus

__all__ = ["CLOCK_PAUSED", "CLOCK_RUNNING", "CLOCK_STOPPED", "OPEN_STATUSES", "TRANSITIONS", "check_transition"]

New, Open, Pending, Resolved, Closed = (
    TicketStatus.NEW,
    TicketStatus.OPEN,
    TicketStatus.PENDING,
    TicketStatus.RESOLVED,
    TicketStatus.CLOSED,
)

# Resolved can be reopened (the fix did not hold); closed is final: a new problem is a new ticket.
TRANSITIONS: Mapping[TicketStatus, frozenset[TicketStatus]] = {
    New: frozenset({Open, Pending, Resolved, Closed}),
    Open: frozenset({Pending, Resolved, Closed}),
    Pending: frozenset({Open, Resolved, Closed}),
    Resolved: frozenset({Open, Closed}),
    Closed: frozenset(),
}

CLOCK_RUNNING = frozenset({New, Open})
CLOCK_PAUSED = frozenset({Pending})  # waiting for the customer stops the clock
CLOCK_STOPPED = frozenset({Resolved, Closed})
OPEN_STATUSES = CLOCK_RUNNING | CLOCK_PAUSED


def check_transition(current: TicketStatus, target: TicketStatus) -> None:
    """Refuse a move the table does not allow, naming both ends."""
    if target not in TRANSITIONS[current]:
        allowed = sorted(status.value for status in TRANSITIONS[current])
        raise Conflict(
            f"a {current.value} ticket cannot become {target.value}",
            **{"from": current.value, "to": target.value, "allowed": allowed},
        )
