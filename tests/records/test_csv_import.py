"""The CSV import of service records: all rows or none, every bad line named, a known serial updated."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core.db import SessionFactory, transaction
from core.models import Channel, Customer, Identity
from records.csv_import import MAX_IMPORT_BYTES, ImportFailed, ImportReport, import_records
from records.models import RecordKind, ServiceRecord

HEADER = (
    "customer,kind,name,serial_number,installed_on,interval_months,last_check_on,warranty_end,service_period_end,note"
)


async def _customers(sessions: SessionFactory) -> tuple[int, int]:
    async with transaction(sessions) as session:
        anna = Customer(name="Анна", language="ru", timezone="Europe/Moscow", plan="standard")
        boris = Customer(name="Борис", language="ru", timezone="Europe/Moscow", plan="standard")
        session.add_all([anna, boris])
        await session.flush()
        session.add(Identity(customer_id=boris.id, channel=Channel.TELEGRAM, external_id="12345"))
        return anna.id, boris.id


async def _import(sessions: SessionFactory, data: bytes, filename: str = "records.csv") -> ImportReport:
    async with transaction(sessions) as session:
        return await import_records(session, filename, data)


async def _failure(sessions: SessionFactory, data: bytes, filename: str = "records.csv") -> list[tuple[int, str]]:
    with pytest.raises(ImportFailed) as failed:
        await _import(sessions, data, filename)
    assert failed.value.filename == filename
    return [(p.line, p.problem.code) for p in failed.value.problems]


async def _records(sessions: SessionFactory) -> list[ServiceRecord]:
    async with transaction(sessions) as session:
        return list(await session.scalars(select(ServiceRecord).order_by(ServiceRecord.serial_number)))


async def test_rows_are_imported_with_customers_by_id_or_identity(sessions: SessionFactory) -> None:
    anna, boris = await _customers(sessions)
    data = (
        f"{HEADER}\n"
        f"{anna},equipment,Роутер AX-3000,RT-1,2026-03-15,12,,2028-03-15,,\n"
        f'telegram:12345,service,Интернет 500,SRV-1,01.02.2026,,,,31.01.2027,"годовой, с продлением"\n'
    ).encode()

    assert await _import(sessions, data) == ImportReport(created=2, updated=0)

    router, internet = await _records(sessions)
    assert (router.customer_id, router.kind, router.name, router.installed_on) == (
        anna,
        RecordKind.EQUIPMENT,
        "Роутер AX-3000",
        date(2026, 3, 15),
    )
    assert router.next_check_on == date(2027, 3, 15)
    assert router.warranty_end == date(2028, 3, 15)
    assert (internet.customer_id, internet.kind, internet.serial_number) == (boris, RecordKind.SERVICE, "SRV-1")
    assert internet.service_period_end == date(2027, 1, 31)
    assert internet.note == "годовой, с продлением"


async def test_reimporting_a_serial_updates_its_record_instead_of_adding_one(sessions: SessionFactory) -> None:
    anna, _boris = await _customers(sessions)
    await _import(sessions, f"customer,name,serial_number,interval_months\n{anna},Роутер,RT-1,12\n".encode())
    report = await _import(
        sessions,
        f"customer,name,serial_number,interval_months,installed_on\n{anna},Роутер Pro,RT-1,6,2026-01-01\n".encode(),
    )
    assert report == ImportReport(created=0, updated=1)
    (record,) = await _records(sessions)
    assert (record.name, record.interval_months, record.next_check_on) == ("Роутер Pro", 6, date(2026, 7, 1))


async def test_bad_dates_name_the_file_and_every_line_and_nothing_is_imported(sessions: SessionFactory) -> None:
    anna, _boris = await _customers(sessions)
    data = (
        "customer,name,serial_number,installed_on,warranty_end\n"
        f"{anna},Роутер,RT-1,2026-03-15,2028-03-15\n"
        f"{anna},Камера,CAM-1,2026-02-30,\n"
        f"{anna},Приставка,STB-1,2026-03-15,\n"
        f"{anna},ТВ,TV-1,15/03/2026,вчера\n"
    ).encode()

    problems = await _failure(sessions, data, "март.csv")

    assert problems == [(3, "bad_date"), (5, "bad_date"), (5, "bad_date")]
    assert await _records(sessions) == [], "nothing is imported while any line is bad"


async def test_a_quoted_value_over_two_lines_keeps_the_numbering_of_later_lines(sessions: SessionFactory) -> None:
    anna, _boris = await _customers(sessions)
    data = (
        f'customer,name,serial_number,note,installed_on\n{anna},Роутер,RT-1,"первая\nвторая",\n{anna},Камера,CAM-1,,31.13.2026\n'
    ).encode()
    assert await _failure(sessions, data) == [(4, "bad_date")]


async def test_a_spreadsheet_export_with_bom_and_semicolons_is_read(sessions: SessionFactory) -> None:
    anna, _boris = await _customers(sessions)
    data = f"\ufeffcustomer;name;serial_number;service_period_end\r\n{anna};Интернет;NET-1;31.12.2026\r\n"
    assert await _import(sessions, data.encode("utf-8")) == ImportReport(created=1, updated=0)
    (record,) = await _records(sessions)
    assert record.service_period_end == date(2026, 12, 31)


async def test_every_kind_of_bad_line_is_reported_together(sessions: SessionFactory) -> None:
    anna, boris = await _customers(sessions)
    await _import(sessions, f"customer,name,serial_number\n{boris},Роутер Бориса,TAKEN-1\n".encode())
    data = (
        "customer,kind,name,serial_number,interval_months,installed_on,last_check_on\n"
        f"{anna},equipment,Роутер,RT-1,12,2026-01-01,\n"  # 2: fine
        "999999,equipment,Роутер,RT-2,12,,\n"  # 3: no such customer
        "telegram:777,equipment,Роутер,RT-3,12,,\n"  # 4: no such identity
        f"{anna},gadget,Роутер,RT-4,,,\n"  # 5: unknown kind
        f"{anna},equipment,,RT-5,,,\n"  # 6: no name
        f"{anna},equipment,Роутер,RT-1,,,\n"  # 7: the serial of line 2 again
        f"{anna},equipment,Роутер,RT-6,0,,\n"  # 8: interval not positive
        f"{anna},equipment,Роутер,RT-7,12,2026-05-01,2026-04-01\n"  # 9: checked before installed
        f"{anna},equipment,Роутер\n"  # 10: too few values
    ).encode()
    assert await _failure(sessions, data) == [(10, "wrong_width")], "a ragged file is refused before its values"
    data = data.rsplit(b"\n", 2)[0] + b"\n" + f"{anna},equipment,Роутер Бориса,TAKEN-1,,,\n".encode()  # 10: Boris's
    assert await _failure(sessions, data) == [
        (3, "unknown_customer"),
        (4, "unknown_customer"),
        (5, "bad_kind"),
        (6, "required"),
        (7, "repeated_serial"),
        (8, "bad_interval"),
        (9, "before_installation"),
    ]
    fixed = b"\n".join(line for number, line in enumerate(data.split(b"\n"), 1) if number in (1, 2, 10)) + b"\n"
    assert await _failure(sessions, fixed) == [(3, "serial_elsewhere")], "another customer's serial is not moved"
    async with transaction(sessions) as session:
        assert await session.scalar(select(func.count()).select_from(ServiceRecord)) == 1  # Boris's only


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"customer,name,serial_number\n", "no_rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not_text"),
        (b"customer,name,serial_number\n1,\xff\xfe,SN\n", "not_text"),
        (b"x" * (MAX_IMPORT_BYTES + 1), "too_big"),
    ],
)
async def test_a_file_that_is_not_a_records_csv_gets_a_clear_error(
    sessions: SessionFactory, data: bytes, problem: str
) -> None:
    assert await _failure(sessions, data) == [(0, problem)]


async def test_a_header_with_unknown_or_missing_columns_is_refused_on_line_one(sessions: SessionFactory) -> None:
    assert await _failure(sessions, b"customer,name,serial,colour\n1,A,B,red\n") == [
        (1, "unknown_columns"),
        (1, "missing_columns"),
    ]
