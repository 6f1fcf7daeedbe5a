"""Operators' ticket lists: filters, text search, two orders, pages without a count.

Each filter has an index that ends in ``id`` (see :class:`~tickets.models.Ticket`), so "newest first" under a
filter reads one index range and stops after a page. Text search uses a trigram index on PostgreSQL (the
``*_trgm`` indexes of migration 0003); on SQLite it scans (case-insensitive for ASCII letters only).
Pages report ``has_more`` instead of a total: counting a million rows to draw a pager is the slow part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import ColumnElement, Select, and_, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Customer, Team
from sla.policy import Priority
from tickets.models import SlaState, Ticket, TicketStatus
from tickets.numbers import parse_number

__all__ = ["TicketFilter", "TicketRow", "list_tickets"]

Sort = Literal["newest", "due"]


@dataclass(slots=True)
class TicketFilter:
    statuses: Sequence[TicketStatus] = ()
    priorities: Sequence[Priority] = ()
    team_id: int | None = None
    no_team: bool = False
    assignee_id: int | None = None
    unassigned: bool = False
    breached: bool | None = None
    at_risk: bool | None = None
    customer_id: int | None = None
    text: str | None = None
    sort: Sort = "newest"
    page: int = 1
    per_page: int = 25
    extra: list[ColumnElement[bool]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TicketRow:
    ticket: Ticket
    customer_name: str
    team_key: str | None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def text_condition(text: str, dialect: str) -> ColumnElement[bool]:
    """Number, or text in the subject or the description (each has a trigram index on PostgreSQL)."""
    text = text.strip()
    number = parse_number(text)
    if number is not None:
        return Ticket.id == number  # "T-000123", "№ 123", "123": the whole query is a number
    pattern = f"%{_escape_like(text)}%"
    if dialect == "postgresql":
        return or_(Ticket.subject.ilike(pattern, escape="\\"), Ticket.description.ilike(pattern, escape="\\"))
    lowered = pattern.lower()
    return or_(
        func.lower(Ticket.subject).like(lowered, escape="\\"),
        func.lower(Ticket.description).like(lowered, escape="\\"),
    )


def build_query(flt: TicketFilter, dialect: str) -> Select[Ticket, str, str]:
    stmt = (
        select(Ticket, Customer.name, Team.key)
        .join(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(Team, Team.id == Ticket.team_id)
    )
    conditions: list[ColumnElement[bool]] = list(flt.extra)
    if flt.statuses:
        # Literals, not parameters: a generic plan cannot prove parameters fit a partial index's predicate.
        statuses = sorted({TicketStatus(status).value for status in flt.statuses})
        conditions.append(Ticket.status.in_([literal_column(f"'{status}'") for status in statuses]))
    if flt.priorities:
        conditions.append(Ticket.priority.in_(list(flt.priorities)))
    if flt.team_id is not None:
        conditions.append(Ticket.team_id == flt.team_id)
    elif flt.no_team:
        conditions.append(Ticket.team_id.is_(None))
    if flt.assignee_id is not None:
        conditions.append(Ticket.assignee_id == flt.assignee_id)
    elif flt.unassigned:
        conditions.append(Ticket.assignee_id.is_(None))
    if flt.breached is True:
        conditions.append(Ticket.sla_state == SlaState.BREACHED)
    elif flt.breached is False:
        conditions.append(Ticket.sla_state != SlaState.BREACHED)
    if flt.at_risk is True:
        conditions.append(Ticket.sla_state == SlaState.AT_RISK)
    if flt.customer_id is not None:
        conditions.append(Ticket.customer_id == flt.customer_id)
    if flt.text and flt.text.strip():
        conditions.append(text_condition(flt.text, dialect))
    if conditions:
        stmt = stmt.where(and_(*conditions))
    if flt.sort == "due":
        stmt = stmt.order_by(Ticket.resolution_due.asc().nulls_last(), Ticket.id)
    else:
        stmt = stmt.order_by(Ticket.id.desc())
    return stmt.offset((flt.page - 1) * flt.per_page).limit(flt.per_page + 1)


async def list_tickets(session: AsyncSession, flt: TicketFilter) -> tuple[list[TicketRow], bool]:
    """One page of tickets and whether another page follows."""
    dialect = session.get_bind().dialect.name
    rows = (await session.execute(build_query(flt, dialect))).all()
    items = [TicketRow(ticket=row[0], customer_name=row[1] or "", team_key=row[2]) for row in rows[: flt.per_page]]
    return items, len(rows) > flt.per_page
