"""Writing service records: create or change one from checked values, delete one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from records.customers import resolve_customer
from records.models import ServiceRecord
from records.validation import Problem, RecordValues

__all__ = ["apply_values", "delete_record", "save_record"]


def apply_values(record: ServiceRecord, values: RecordValues, customer_id: int) -> None:
    record.customer_id = customer_id
    record.kind = values.kind
    record.name = values.name
    record.serial_number = values.serial_number
    record.installed_on = values.installed_on
    record.interval_months = values.interval_months
    record.last_check_on = values.last_check_on
    record.warranty_end = values.warranty_end
    record.service_period_end = values.service_period_end
    record.note = values.note
    record.schedule_next_check()


async def save_record(
    session: AsyncSession, values: RecordValues, record_id: int | None = None
) -> tuple[ServiceRecord | None, list[Problem]]:
    """Create a record (``record_id`` None) or change one; problems instead when the customer or serial clash."""
    problems: list[Problem] = []
    customer_id = await resolve_customer(session, values.customer)
    if customer_id is None:
        problems.append(Problem("customer", "unknown_customer", {"value": values.customer}))
    owner = await session.scalar(select(ServiceRecord.id).where(ServiceRecord.serial_number == values.serial_number))
    if owner is not None and owner != record_id:
        problems.append(Problem("serial_number", "serial_taken", {"value": values.serial_number}))
    if problems or customer_id is None:
        return None, problems
    if record_id is None:
        record = ServiceRecord()
        session.add(record)
    else:
        found = await session.get(ServiceRecord, record_id)
        if found is None:
            raise NotFound("no such service record", id=record_id)
        record = found
    apply_values(record, values, customer_id)
    await session.flush()
    return record, []


async def delete_record(session: AsyncSession, record_id: int) -> int:
    """Delete a record; the id of the customer it belonged to (their page is where the admin goes next)."""
    record = await session.get(ServiceRecord, record_id)
    if record is None:
        raise NotFound("no such service record", id=record_id)
    await session.delete(record)
    return record.customer_id
