"""Reading service records: a customer's records, and the customers whose dates come up within N days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Customer
from records.customers import resolve_customer
from records.models import ServiceRecord
from records.schedule import DUE_SOON_DAYS

__all__ = [
    "RecordPage",
    "customers_with_check_due",
    "customers_with_period_ending",
    "list_records",
    "records_of",
]


async def records_of(session: AsyncSession, customer_id: int) -> list[ServiceRecord]:
    """A customer's records, equipment before services, by name."""
    rows = await session.scalars(
        select(ServiceRecord)
        .where(ServiceRecord.customer_id == customer_id)
        .order_by(ServiceRecord.kind, ServiceRecord.name, ServiceRecord.id)
    )
    return list(rows)


async def customers_with_period_ending(
    session: AsyncSession, within_days: int, today: date
) -> list[tuple[int, ServiceRecord]]:
    """(customer id, record) for every record whose service period ends from ``today`` to ``today + within_days``.

    A period that has already ended is not "ending": it is left out. Ordered by the end date, then customer.
    """
    last = today + timedelta(days=within_days)
    rows = await session.scalars(
        select(ServiceRecord)
        .where(ServiceRecord.service_period_end >= today, ServiceRecord.service_period_end <= last)
        .order_by(ServiceRecord.service_period_end, ServiceRecord.customer_id, ServiceRecord.id)
    )
    return [(record.customer_id, record) for record in rows]


async def customers_with_check_due(
    session: AsyncSession, within_days: int, today: date
) -> list[tuple[int, ServiceRecord]]:
    """(customer id, record) for every record whose next check is due by ``today + within_days``.

    The next check is the last check (or the installation) plus the service interval. An overdue check is
    still due until a later check is recorded, so it is included. Ordered by the due date, then customer.
    """
    last = today + timedelta(days=within_days)
    rows = await session.scalars(
        select(ServiceRecord)
        .where(ServiceRecord.next_check_on.is_not(None), ServiceRecord.next_check_on <= last)
        .order_by(ServiceRecord.next_check_on, ServiceRecord.customer_id, ServiceRecord.id)
    )
    return [(record.customer_id, record) for record in rows]


@dataclass(frozen=True, slots=True)
class RecordPage:
    """One page of the admins' list: records with their customer's name, and whether more matched."""

    rows: list[tuple[ServiceRecord, str]]
    has_more: bool


def _due_soon(today: date, within_days: int) -> ColumnElement[bool]:
    last = today + timedelta(days=within_days)
    return or_(
        ServiceRecord.next_check_on <= last,
        and_(ServiceRecord.service_period_end >= today, ServiceRecord.service_period_end <= last),
        and_(ServiceRecord.warranty_end >= today, ServiceRecord.warranty_end <= last),
    )


async def list_records(
    session: AsyncSession,
    *,
    text: str = "",
    due_soon: bool = False,
    today: date,
    within_days: int = DUE_SOON_DAYS,
    limit: int = 200,
) -> RecordPage:
    """Records matching ``text`` (a customer's id, name or identity such as ``telegram:12345``; a serial number).

    ``due_soon`` keeps records whose check is due (or overdue), or whose service period or warranty ends,
    within ``within_days``. Ordered by customer name, then record name.
    """
    query = select(ServiceRecord, Customer.name).join(Customer, Customer.id == ServiceRecord.customer_id)
    text = text.strip()
    if text:
        matches: list[ColumnElement[bool]] = []
        for column in (ServiceRecord.serial_number, Customer.name):
            matches.append(func.lower(column).contains(text.lower(), autoescape=True))
            # SQLite's lower() folds ASCII letters only: "анна" would miss "Анна". The usual spellings of a
            # name or a serial number are matched as written instead.
            for spelling in {text, text.upper(), text.capitalize(), text.title()}:
                matches.append(column.contains(spelling, autoescape=True))
        customer_id = await resolve_customer(session, text)
        if customer_id is not None:
            matches.append(ServiceRecord.customer_id == customer_id)
        query = query.where(or_(*matches))
    if due_soon:
        query = query.where(_due_soon(today, within_days))
    query = query.order_by(Customer.name, ServiceRecord.customer_id, ServiceRecord.name, ServiceRecord.id)
    rows = [(record, name) for record, name in await session.execute(query.limit(limit + 1))]
    return RecordPage(rows=rows[:limit], has_more=len(rows) > limit)
