"""Names: event-bus events handoff publishes and the kinds of ticket events it records."""

from __future__ import annotations

from core.events import TICKET_CHANGED

__all__ = [
    "INCIDENT_CHANGED",
    "INCIDENT_FORMING",
    "PUBLIC_KINDS",
    "TICKET_BREACH",
    "TICKET_CHANGED",
    "Kind",
]

# Bus events (the inbox subscribes).
TICKET_BREACH = "ticket.breach"  # data: ticket_id, number, kind (at_risk|breached|escalated), target, level, team_id
INCIDENT_FORMING = "incident.forming"  # data: team_id, ticket_ids, numbers, subject
INCIDENT_CHANGED = "incident.changed"  # data: incident_id, kind (created|updated|resolved|deleted)


class Kind:
    """``TicketEvent.kind`` values."""

    CREATED = "created"
    STATUS = "status"
    PRIORITY = "priority"
    TEAM = "team"
    ASSIGNEE = "assignee"
    UPDATED = "updated"
    ETA = "eta"
    REPLY = "reply"
    NOTE = "note"
    CUSTOMER_MESSAGE = "customer_message"
    CONVERSATION = "conversation"
    CANCELLED = "cancelled"
    INCIDENT_LINKED = "incident_linked"
    INCIDENT_UNLINKED = "incident_unlinked"
    INCIDENT_SUGGESTED = "incident_suggested"
    INCIDENT_RESOLVED = "incident_resolved"
    INCIDENT_FORMING = "incident_forming"
    SLA_AT_RISK = "sla_at_risk"
    SLA_BREACHED = "sla_breached"
    ESCALATED = "escalated"


# What the customer may see of a ticket's history (the rest is internal).
PUBLIC_KINDS = frozenset(
    {
        Kind.CREATED,
        Kind.STATUS,
        Kind.ETA,
        Kind.REPLY,
        Kind.CUSTOMER_MESSAGE,
        Kind.CANCELLED,
        Kind.INCIDENT_LINKED,
        Kind.INCIDENT_RESOLVED,
    }
)
