"""Service records and the audiences of reminders: whose service period ends and whose check is due."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.exc import IntegrityError

from core.db import SessionFactory, transaction
from core.models import Customer
from records.models import RecordKind, ServiceRecord
from records.queries import customers_with_check_due, customers_with_period_ending, records_of
from records.schedule import add_months, next_check

TODAY = date(2026, 12, 7)


async def _customer(sessions: SessionFactory, name: str) -> int:
    async with transaction(sessions) as session:
        customer = Customer(name=name, language="ru", timezone="Europe/Moscow", plan="standard")
        session.add(customer)
        await session.flush()
        return customer.id


async def _record(sessions: SessionFactory, customer_id: int, serial: str, **fields: object) -> int:
    async with transaction(sessions) as session:
        record = ServiceRecord(customer_id=customer_id, name=f"Роутер {serial}", serial_number=serial, **fields)
        session.add(record)
        await session.flush()
        return record.id


def test_months_are_added_by_the_calendar() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
    assert add_months(date(2026, 12, 1), 12) == date(2027, 12, 1)


def test_next_check_counts_from_the_last_check_or_else_the_installation() -> None:
    assert next_check(date(2026, 1, 10), None, 6) == date(2026, 7, 10)
    assert next_check(date(2026, 1, 10), date(2026, 9, 1), 6) == date(2027, 3, 1)
    assert next_check(date(2026, 1, 10), None, None) is None
    assert next_check(None, None, 6) is None


async def test_period_ending_lists_periods_that_end_within_the_window(sessions: SessionFactory) -> None:
    anna, boris = await _customer(sessions, "Анна"), await _customer(sessions, "Борис")
    await _record(sessions, anna, "ENDS-TODAY", service_period_end=TODAY)
    await _record(sessions, boris, "ENDS-IN-30", service_period_end=date(2027, 1, 6))
    await _record(sessions, anna, "ENDS-IN-31", service_period_end=date(2027, 1, 7))
    await _record(sessions, boris, "ENDED", service_period_end=date(2026, 12, 6))
    await _record(sessions, anna, "NO-PERIOD")

    async with transaction(sessions) as session:
        found = await customers_with_period_ending(session, 30, TODAY)

    assert [(customer, record.serial_number) for customer, record in found] == [
        (anna, "ENDS-TODAY"),
        (boris, "ENDS-IN-30"),
    ]


async def test_check_due_counts_from_the_last_check_and_includes_overdue_ones(sessions: SessionFactory) -> None:
    anna, boris = await _customer(sessions, "Анна"), await _customer(sessions, "Борис")
    # installed 2026-06-20, every 6 months → due 2026-12-20
    await _record(sessions, anna, "DUE-SOON", installed_on=date(2026, 6, 20), interval_months=6)
    # checked 2026-09-01, every 3 months → due 2026-12-01: overdue, still due
    await _record(
        sessions, boris, "OVERDUE", installed_on=date(2025, 1, 1), last_check_on=date(2026, 9, 1), interval_months=3
    )
    # installed long ago but checked recently → due 2027-08-01
    await _record(
        sessions, anna, "CHECKED", installed_on=date(2024, 1, 1), last_check_on=date(2026, 8, 1), interval_months=12
    )
    await _record(sessions, boris, "NO-INTERVAL", installed_on=date(2020, 1, 1))

    async with transaction(sessions) as session:
        found = await customers_with_check_due(session, 14, TODAY)

    assert [(customer, record.serial_number, record.next_check_on) for customer, record in found] == [
        (boris, "OVERDUE", date(2026, 12, 1)),
        (anna, "DUE-SOON", date(2026, 12, 20)),
    ]


async def test_recording_a_check_moves_the_next_one(sessions: SessionFactory) -> None:
    anna = await _customer(sessions, "Анна")
    record_id = await _record(sessions, anna, "R-1", installed_on=date(2026, 1, 10), interval_months=11)
    async with transaction(sessions) as session:
        assert len(await customers_with_check_due(session, 30, TODAY)) == 1
        record = await session.get_one(ServiceRecord, record_id)
        record.last_check_on = TODAY
    async with transaction(sessions) as session:
        assert await customers_with_check_due(session, 30, TODAY) == []
        record = await session.get_one(ServiceRecord, record_id)
        assert record.next_check_on == date(2027, 11, 7)


async def test_a_serial_number_belongs_to_one_record(sessions: SessionFactory) -> None:
    anna, boris = await _customer(sessions, "Анна"), await _customer(sessions, "Борис")
    await _record(sessions, anna, "SN-1")
    with pytest.raises(IntegrityError):
        await _record(sessions, boris, "SN-1")


async def test_records_of_a_customer_are_theirs_only(sessions: SessionFactory) -> None:
    anna, boris = await _customer(sessions, "Анна"), await _customer(sessions, "Борис")
    await _record(sessions, anna, "A-2", kind=RecordKind.SERVICE)
    await _record(sessions, anna, "A-1")
    await _record(sessions, boris, "B-1")
    async with transaction(sessions) as session:
        mine = await records_of(session, anna)
    assert [(r.kind, r.serial_number) for r in mine] == [(RecordKind.EQUIPMENT, "A-1"), (RecordKind.SERVICE, "A-2")]
