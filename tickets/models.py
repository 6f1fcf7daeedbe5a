"""Tickets, their events and vectors, and incidents.

Ticket numbers are the primary key formatted (``T-000123``): PostgreSQL hands ids out from a sequence
(never rolled back, so never reused, and race-free under any concurrency without a counter row to
contend on); on SQLite the table is ``AUTOINCREMENT`` so an id is not reused even after the newest row
is deleted. Gaps (a rolled-back creation) are allowed; duplicates are impossible.

The SLA clock state lives on the ticket (due times, per-target state, pauses, escalation level) and
``next_escalation_at`` is the single instant the breach watch has to look at the ticket again, so the
watch is one indexed range query however many tickets there are.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, str_enum, utcnow
from nlu.vectors import OptionalVectorColumns, VectorColumns
from sla.policy import Impact, Priority, Urgency

__all__ = [
    "Actor",
    "Incident",
    "IncidentStatus",
    "LinkState",
    "SlaState",
    "Ticket",
    "TicketConversation",
    "TicketEvent",
    "TicketIncident",
    "TicketStatus",
    "TicketVector",
]

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class TicketStatus(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"  # waiting for the customer: the SLA clock is stopped
    RESOLVED = "resolved"
    CLOSED = "closed"


class SlaState(enum.StrEnum):
    OK = "ok"
    AT_RISK = "at_risk"
    BREACHED = "breached"


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class LinkState(enum.StrEnum):
    LINKED = "linked"
    SUGGESTED = "suggested"  # similar enough to show the operator, not enough to tell the customer


class Actor(enum.StrEnum):
    OPERATOR = "operator"
    CUSTOMER = "customer"
    SYSTEM = "system"


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # The breach watch: "what needs a look now" is one range scan over the rows that have a clock.
        Index(
            "ix_tickets_next_escalation_at",
            "next_escalation_at",
            postgresql_where=text("next_escalation_at IS NOT NULL"),
            sqlite_where=text("next_escalation_at IS NOT NULL"),
        ),
        # Operators' lists: a filter, newest first.
        Index("ix_tickets_status_id", "status", "id"),
        Index("ix_tickets_team_status_id", "team_id", "status", "id"),
        Index("ix_tickets_assignee_status_id", "assignee_id", "status", "id"),
        Index("ix_tickets_customer_id_id", "customer_id", "id"),
        Index("ix_tickets_priority_status_id", "priority", "status", "id"),
        Index("ix_tickets_sla_state_status_id", "sla_state", "status", "id"),
        # The open queue by due time. Partial, so the scan never wades through years of closed tickets;
        # queries spell the statuses as literals so PostgreSQL can prove they fall under the predicate.
        Index(
            "ix_tickets_open_resolution_due",
            "resolution_due",
            "id",
            postgresql_where=text("status IN ('new', 'open', 'pending')"),
            sqlite_where=text("status IN ('new', 'open', 'pending')"),
        ),
        Index("ix_tickets_created_at", "created_at"),
        # Reports: tickets opened in a period by channel × plan, read from the index alone; tickets resolved in a
        # period (the satisfaction response rate).
        Index("ix_tickets_created_at_channel_plan", "created_at", "channel", "plan"),
        Index(
            "ix_tickets_resolved_at",
            "resolved_at",
            postgresql_where=text("resolved_at IS NOT NULL"),
            sqlite_where=text("resolved_at IS NOT NULL"),
        ),
        # Operators' text search ("%router%"): trigram indexes on PostgreSQL (migration 0003 installs pg_trgm);
        # SQLite ignores the PostgreSQL options and keeps plain indexes it cannot use for LIKE '%...%'.
        Index("ix_tickets_subject_trgm", "subject", postgresql_using="gin", postgresql_ops={"subject": "gin_trgm_ops"}),
        Index(
            "ix_tickets_description_trgm",
            "description",
            postgresql_using="gin",
            postgresql_ops={"description": "gin_trgm_ops"},
        ),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(64))
    account_number: Mapped[str | None] = mapped_column(String(64))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency))
    impact: Mapped[Impact] = mapped_column(str_enum(Impact))
    priority: Mapped[Priority] = mapped_column(str_enum(Priority))
    # The priority the due times were planned with. An escalation raises ``priority`` (queue order) but
    # keeps the plan: the promise made to the customer does not move, and a breach is not re-planned away.
    sla_priority: Mapped[Priority] = mapped_column(str_enum(Priority))
    status: Mapped[TicketStatus] = mapped_column(str_enum(TicketStatus), default=TicketStatus.NEW)
    # The SLA contract is the customer's plan when the ticket was opened.
    plan: Mapped[str] = mapped_column(String(32))
    sla_started_at: Mapped[datetime] = mapped_column()
    first_response_due: Mapped[datetime | None] = mapped_column()
    first_responded_at: Mapped[datetime | None] = mapped_column()
    first_response_state: Mapped[SlaState] = mapped_column(str_enum(SlaState), default=SlaState.OK)
    # Next response: counted from the customer's message that waits for our answer (None when none waits).
    next_response_since: Mapped[datetime | None] = mapped_column()
    next_response_due: Mapped[datetime | None] = mapped_column()
    next_response_state: Mapped[SlaState] = mapped_column(str_enum(SlaState), default=SlaState.OK)
    resolution_due: Mapped[datetime | None] = mapped_column()
    resolution_state: Mapped[SlaState] = mapped_column(str_enum(SlaState), default=SlaState.OK)
    # The worst of the three, kept for "show me breached tickets" filters.
    sla_state: Mapped[SlaState] = mapped_column(str_enum(SlaState), default=SlaState.OK)
    # [[paused_at, resumed_at | null], ...] as ISO 8601: the pending intervals the clock stood still.
    pauses: Mapped[list[Any]] = mapped_column(default=list)
    breached_at: Mapped[datetime | None] = mapped_column()
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    # Stored by tickets.durations when the fact becomes known, so the reports aggregate them in SQL.
    first_response_minutes: Mapped[float | None] = mapped_column(Float)
    first_response_business_minutes: Mapped[int | None] = mapped_column(Integer)
    resolution_minutes: Mapped[float | None] = mapped_column(Float)
    resolution_business_minutes: Mapped[int | None] = mapped_column(Integer)
    # The channel of the ticket's first conversation (earliest link, then lowest conversation id); None when it
    # has none. Kept by triggers on ticket_conversations (migration 0018), so every way a link is written or
    # removed updates it; the reports group and filter by it. Read-only here: the ORM never writes it.
    channel: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def number(self) -> str:
        return format_number(self.id)


def format_number(ticket_id: int) -> str:
    return f"T-{ticket_id:06d}"


class TicketConversation(Base):
    """The conversations a ticket gathers messages from: one customer, possibly several channels."""

    __tablename__ = "ticket_conversations"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketEvent(Base):
    """Every change of a ticket: who, when, what, from → to. ``public`` events are the customer's history."""

    __tablename__ = "ticket_events"
    __table_args__ = (
        Index("ix_ticket_events_ticket_id_id", "ticket_id", "id"),
        # One escalation per ticket per level, whatever number of breach watchers race for it.
        Index(
            "uq_ticket_events_escalation",
            "ticket_id",
            "to_value",
            unique=True,
            postgresql_where=text("kind = 'escalated'"),
            sqlite_where=text("kind = 'escalated'"),
        ),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    actor: Mapped[Actor] = mapped_column(str_enum(Actor))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    from_value: Mapped[str | None] = mapped_column(String(64))
    to_value: Mapped[str | None] = mapped_column(String(64))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketVector(VectorColumns, Base):
    """The vector of a ticket's text, for incident matching; kept off the ticket row to keep it narrow."""

    __tablename__ = "ticket_vectors"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)


class Incident(OptionalVectorColumns, Base):
    """An outage many customers share; tickets link to it and learn of its restoration together.

    Its vector is that of its title, service and description, recomputed when they change (or the embedder).
    """

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[IncidentStatus] = mapped_column(str_enum(IncidentStatus), default=IncidentStatus.OPEN)
    restoration_eta: Mapped[datetime | None] = mapped_column()
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()


class TicketIncident(Base):
    """A ticket linked to (or suggested for) an incident; a ticket is linked to at most one incident."""

    __tablename__ = "ticket_incidents"
    __table_args__ = (
        Index(
            "uq_ticket_incidents_linked",
            "ticket_id",
            unique=True,
            postgresql_where=text("state = 'linked'"),
            sqlite_where=text("state = 'linked'"),
        ),
        Index("ix_ticket_incidents_incident_id_state", "incident_id", "state"),
    )

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[LinkState] = mapped_column(str_enum(LinkState))
    score: Mapped[float | None] = mapped_column(Float)
    linked_by: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
