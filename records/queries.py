"""Reading service records: a customer's records, and the customers whose dates come up within N days."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from records.models import ServiceRecord

__all__ = ["customers_with_check_due", "customers_with_period_ending", "records_of"]


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
