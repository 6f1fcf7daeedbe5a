"""JSON shapes of tickets and incidents for operators (the API and ``frontline ticket show``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Customer, Team
from sla.policy import Impact, Priority, Urgency
from tickets.models import (
    Actor,
    Incident,
    IncidentStatus,
    LinkState,
    SlaState,
    Ticket,
    TicketConversation,
    TicketEvent,
    TicketIncident,
    TicketStatus,
)
from tickets.queries import TicketRow
from tickets.status import CLOCK_PAUSED

# --- out ---------------------------------------------------------------------------------------------


class TicketSummary(BaseModel):
    id: int
    number: str
    subject: str
    status: TicketStatus
    priority: Priority
    category: str | None
    team: str | None
    assignee_id: int | None
    customer_id: int
    customer_name: str
    sla_state: SlaState
    escalation_level: int
    first_response_due: datetime | None
    resolution_due: datetime | None
    created_at: datetime
    updated_at: datetime


class TicketPage(BaseModel):
    items: list[TicketSummary]
    page: int
    per_page: int
    has_more: bool


class TargetOut(BaseModel):
    due: datetime | None
    state: SlaState


class SlaOut(BaseModel):
    plan: str
    priority: Priority = Field(description="The priority the due times were planned with")
    paused: bool
    first_response: TargetOut
    next_response: TargetOut
    resolution: TargetOut
    first_responded_at: datetime | None
    breached_at: datetime | None
    next_escalation_at: datetime | None


class EventOut(BaseModel):
    id: int
    at: datetime
    actor: Actor
    operator_id: int | None
    kind: str
    from_value: str | None
    to_value: str | None
    public: bool
    data: dict[str, Any]


class IncidentRef(BaseModel):
    id: int
    title: str
    status: IncidentStatus
    restoration_eta: datetime | None
    score: float | None = None


class TicketDetail(TicketSummary):
    description: str
    urgency: Urgency
    impact: Impact
    account_number: str | None
    sla: SlaOut
    conversation_ids: list[int]
    incident: IncidentRef | None
    suggested_incidents: list[IncidentRef]
    resolved_at: datetime | None
    closed_at: datetime | None
    events: list[EventOut]


class IncidentOut(BaseModel):
    id: int
    title: str
    service: str
    category: str | None
    description: str
    status: IncidentStatus
    restoration_eta: datetime | None
    team: str | None
    linked_tickets: int
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


class IncidentList(BaseModel):
    items: list[IncidentOut]


class IncidentTicket(BaseModel):
    number: str
    status: TicketStatus
    link: LinkState
    score: float | None


class IncidentDetail(IncidentOut):
    tickets: list[IncidentTicket]


class IncidentCreated(IncidentOut):
    linked_now: int = Field(description="Open tickets of the match window linked on creation")


class IncidentResolved(BaseModel):
    incident: IncidentOut
    resolved_tickets: int
    notified_customers: int


# --- in ----------------------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TicketQuery(BaseModel):
    status: str | None = Field(default=None, description="Comma-separated statuses, e.g. new,open")
    priority: str | None = Field(default=None, description="Comma-separated priorities, e.g. P1,P2")
    team: str | None = Field(default=None, description="Team key, or 'none'")
    assignee: str | None = Field(default=None, description="Operator id, 'me' or 'none'")
    breached: bool | None = None
    at_risk: bool | None = None
    customer: int | None = None
    q: str | None = Field(default=None, max_length=200, description="Number, or text in subject/description")
    sort: Literal["newest", "due"] = "newest"
    page: int = Field(default=1, ge=1, le=10_000)
    per_page: int = Field(default=25, ge=1, le=100)


class TicketPatch(_Body):
    subject: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=16_000)
    category: str | None = Field(default=None, max_length=64)
    team: str | None = Field(default=None, description="Team key; null for none")
    urgency: Urgency | None = None
    impact: Impact | None = None
    priority: Priority | None = Field(default=None, description="Overrides the matrix")
    assignee_id: int | None = None


class TransitionBody(_Body):
    to: TicketStatus
    reason: str | None = Field(default=None, max_length=500)


class TextBody(_Body):
    text: str = Field(min_length=1, max_length=16_000)


class LinkBody(_Body):
    incident_id: int


class IncidentQuery(BaseModel):
    status: IncidentStatus | None = None


class IncidentIn(_Body):
    title: str = Field(min_length=1, max_length=200)
    service: str = Field(default="", max_length=200, description="Affected service or area")
    category: str | None = Field(default=None, max_length=64)
    description: str = Field(default="", max_length=16_000)
    restoration_eta: AwareDatetime | None = Field(default=None, description="Announced restoration time")
    team: str | None = None


class IncidentPatch(_Body):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    service: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=16_000)
    restoration_eta: AwareDatetime | None = None
    team: str | None = None


# --- builders ----------------------------------------------------------------------------------------


def summary_fields(ticket: Ticket, customer_name: str, team_key: str | None) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "team": team_key,
        "assignee_id": ticket.assignee_id,
        "customer_id": ticket.customer_id,
        "customer_name": customer_name,
        "sla_state": ticket.sla_state,
        "escalation_level": ticket.escalation_level,
        "first_response_due": ticket.first_response_due,
        "resolution_due": ticket.resolution_due,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
    }


def summary(row: TicketRow) -> TicketSummary:
    return TicketSummary(**summary_fields(row.ticket, row.customer_name, row.team_key))


async def ticket_detail(session: AsyncSession, ticket: Ticket) -> TicketDetail:
    customer = await session.get_one(Customer, ticket.customer_id)
    team = await session.get(Team, ticket.team_id) if ticket.team_id else None
    conversations = await session.scalars(
        select(TicketConversation.conversation_id)
        .where(TicketConversation.ticket_id == ticket.id)
        .order_by(TicketConversation.created_at)
    )
    links = (
        await session.execute(
            select(Incident, TicketIncident)
            .join(TicketIncident, TicketIncident.incident_id == Incident.id)
            .where(TicketIncident.ticket_id == ticket.id)
            .order_by(TicketIncident.score.desc())
        )
    ).all()
    incident: IncidentRef | None = None
    suggested: list[IncidentRef] = []
    for inc, link in links:
        ref = IncidentRef(
            id=inc.id, title=inc.title, status=inc.status, restoration_eta=inc.restoration_eta, score=link.score
        )
        if link.state is LinkState.LINKED:
            incident = ref
        elif inc.status is IncidentStatus.OPEN:
            suggested.append(ref)
    events = await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    )
    return TicketDetail(
        **summary_fields(ticket, customer.name, team.key if team else None),
        description=ticket.description,
        urgency=ticket.urgency,
        impact=ticket.impact,
        account_number=ticket.account_number,
        sla=SlaOut(
            plan=ticket.plan,
            priority=ticket.sla_priority,
            paused=ticket.status in CLOCK_PAUSED,
            first_response=TargetOut(due=ticket.first_response_due, state=ticket.first_response_state),
            next_response=TargetOut(due=ticket.next_response_due, state=ticket.next_response_state),
            resolution=TargetOut(due=ticket.resolution_due, state=ticket.resolution_state),
            first_responded_at=ticket.first_responded_at,
            breached_at=ticket.breached_at,
            next_escalation_at=ticket.next_escalation_at,
        ),
        conversation_ids=list(conversations),
        incident=incident,
        suggested_incidents=suggested,
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
        events=[
            EventOut(
                id=e.id,
                at=e.created_at,
                actor=e.actor,
                operator_id=e.operator_id,
                kind=e.kind,
                from_value=e.from_value,
                to_value=e.to_value,
                public=e.public,
                data=e.data or {},
            )
            for e in events
        ],
    )


def incident_fields(incident: Incident, team_key: str | None, linked: int) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "service": incident.service,
        "category": incident.category,
        "description": incident.description,
        "status": incident.status,
        "restoration_eta": incident.restoration_eta,
        "team": team_key,
        "linked_tickets": linked,
        "created_at": incident.created_at,
        "updated_at": incident.updated_at,
        "resolved_at": incident.resolved_at,
    }


async def team_key(session: AsyncSession, team_id: int | None) -> str | None:
    team = await session.get(Team, team_id) if team_id else None
    return team.key if team else None
