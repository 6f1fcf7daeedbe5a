"""Who gets a notice: an audience definition, resolved in SQL on both databases, in customer id order.

Each customer is reached in the conversation they were last active in (its channel and chat), so the
notice arrives where they last wrote; a customer who never wrote has no chat and is not in any audience.
Customers whose service period ends or whose equipment check is due within N days come from a
``DueSource`` (the service records), named by the application.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import ColumnElement, Select, case, exists, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput
from core.models import Channel, Conversation, Customer
from notices.models import NoticeOptOut
from tickets.models import Incident, LinkState, Ticket, TicketIncident, TicketStatus

__all__ = ["Audience", "AudienceKind", "DueSource", "Preview", "Target", "preview", "reach", "targets"]

OPEN_TICKET = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)
SAMPLE = 5

# (session, within days, today) -> [(customer id, record), ...]: the service records' due queries.
DueSource = Callable[[AsyncSession, int, date], Awaitable[Sequence[tuple[int, Any]]]]


class AudienceKind(enum.StrEnum):
    ALL = "all"
    PLAN = "plan"
    CHANNEL = "channel"
    CATEGORY = "category"  # customers with an open ticket in a category
    INCIDENT = "incident"  # customers whose tickets are linked to an incident
    PERIOD_ENDING = "period_ending"  # service period ends within N days
    CHECK_DUE = "check_due"  # equipment check due within N days

    @property
    def due(self) -> bool:
        return self in (AudienceKind.PERIOD_ENDING, AudienceKind.CHECK_DUE)


class Audience(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: AudienceKind
    value: str = Field(default="", max_length=64)
    days: int = Field(default=0, ge=0, le=366)

    @model_validator(mode="after")
    def _complete(self) -> Audience:
        if self.kind in (AudienceKind.PLAN, AudienceKind.CATEGORY) and not self.value.strip():
            raise ValueError(f"the audience {self.kind.value} needs a value")
        if self.kind is AudienceKind.CHANNEL and self.value not in {c.value for c in Channel}:
            raise ValueError("the channel must be one of: " + ", ".join(c.value for c in Channel))
        if self.kind is AudienceKind.INCIDENT and not (self.value.isdigit() and len(self.value) <= 12):
            raise ValueError("the incident must be given by its number")
        return self

    @classmethod
    def read(cls, data: dict[str, Any]) -> Audience:
        """An audience from form or JSON fields; a clear 422 for anything incomplete or unknown."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors(include_url=False))
            raise InvalidInput(f"the audience is not valid: {reasons}") from None


@dataclass(frozen=True, slots=True)
class Target:
    customer_id: int
    name: str
    language: str
    conversation_id: int
    channel: Channel
    opted_out: bool


@dataclass(frozen=True, slots=True)
class Preview:
    count: int  # customers the notice would reach (opted-out ones of a non-urgent notice excluded)
    opted_out: int  # customers of the audience who will not get a non-urgent notice
    names: list[str]


def _latest_conversation() -> Any:
    """The id of the customer's most recently active conversation (correlated with the outer customer row)."""
    return (
        select(Conversation.id)
        .where(Conversation.customer_id == Customer.id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(1)
        .correlate(Customer)
        .scalar_subquery()
    )


async def _due_customers(
    session: AsyncSession, audience: Audience, sources: dict[AudienceKind, DueSource], today: date
) -> list[int]:
    source = sources.get(audience.kind)
    if source is None:
        raise InvalidInput("service records are not available here: this audience cannot be chosen")
    return sorted({customer_id for customer_id, _record in await source(session, audience.days, today)})


def _condition(audience: Audience, due_ids: list[int] | None) -> ColumnElement[bool]:
    kind = audience.kind
    if kind is AudienceKind.PLAN:
        return Customer.plan == audience.value.strip()
    if kind is AudienceKind.CHANNEL:
        return Conversation.channel == Channel(audience.value)
    if kind is AudienceKind.CATEGORY:
        return exists().where(
            Ticket.customer_id == Customer.id,
            Ticket.status.in_(OPEN_TICKET),
            Ticket.category == audience.value.strip(),
        )
    if kind is AudienceKind.INCIDENT:
        return exists().where(
            Ticket.customer_id == Customer.id,
            TicketIncident.ticket_id == Ticket.id,
            TicketIncident.incident_id == int(audience.value),
            TicketIncident.state == LinkState.LINKED,
        )
    if kind.due:
        return Customer.id.in_(due_ids or [-1])
    return true()


def _base(audience: Audience, due_ids: list[int] | None) -> Select[int, str, str, int, Channel, bool]:
    opted_out = exists().where(NoticeOptOut.customer_id == Customer.id)
    stmt = (
        select(
            Customer.id.label("customer_id"),
            Customer.name.label("name"),
            Customer.language.label("language"),
            Conversation.id.label("conversation_id"),
            Conversation.channel.label("channel"),
            opted_out.label("opted_out"),
        )
        .join(Conversation, Conversation.id == _latest_conversation())
        .where(_condition(audience, due_ids))
    )
    return stmt


async def check_incident(session: AsyncSession, audience: Audience) -> None:
    if audience.kind is AudienceKind.INCIDENT and await session.get(Incident, int(audience.value)) is None:
        raise InvalidInput(f"there is no incident {audience.value}")


async def targets(
    session: AsyncSession,
    audience: Audience,
    *,
    after: int,
    limit: int,
    sources: dict[AudienceKind, DueSource] | None = None,
    today: date | None = None,
) -> list[Target]:
    """The next ``limit`` customers of the audience with an id above ``after``, in id order."""
    due_ids: list[int] | None = None
    if audience.kind.due:
        due = await _due_customers(session, audience, sources or {}, today or date.today())
        due_ids = [i for i in due if i > after][:limit]
    stmt = _base(audience, due_ids).where(Customer.id > after).order_by(Customer.id).limit(limit)
    rows = (await session.execute(stmt)).all()
    return [Target(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]


async def preview(
    session: AsyncSession,
    audience: Audience,
    *,
    urgent: bool,
    sources: dict[AudienceKind, DueSource] | None = None,
    today: date | None = None,
) -> Preview:
    """How many customers a notice to ``audience`` reaches, how many opted out, and the first few names."""
    await check_incident(session, audience)
    due_ids = (
        await _due_customers(session, audience, sources or {}, today or date.today()) if audience.kind.due else None
    )
    base = _base(audience, due_ids).subquery()
    opted_sum = func.coalesce(func.sum(case((base.c.opted_out, 1), else_=0)), 0)
    total, opted = (await session.execute(select(func.count(), opted_sum).select_from(base))).one()
    opted_out = 0 if urgent else int(opted or 0)
    sample = select(base.c.name).order_by(base.c.customer_id).limit(SAMPLE)
    if not urgent:
        sample = sample.where(~base.c.opted_out)
    names = [str(n or "—") for n in (await session.execute(sample)).scalars()]
    return Preview(count=int(total) - opted_out, opted_out=opted_out, names=names)


async def reach(session: AsyncSession, customer_ids: Sequence[int]) -> dict[int, Target]:
    """Where each of these customers is reached (their latest conversation); customers who never wrote are absent."""
    if not customer_ids:
        return {}
    stmt = _base(Audience(kind=AudienceKind.ALL), None).where(Customer.id.in_(list(customer_ids)))
    rows = (await session.execute(stmt)).all()
    return {r[0]: Target(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows}
