"""Importing service records from a CSV file: all rows or none.

The first line is the header: column names from :data:`~records.validation.FIELDS` in any order, at least
``customer``, ``name`` and ``serial_number``. The file is UTF-8 with or without a byte-order mark, separated
by commas or semicolons (spreadsheets in Russian locales write semicolons). Every row is checked before
anything is written; one bad row means nothing is imported and every bad line is reported with the file's
name and the line number. A serial number already on file updates that record instead of adding another.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from records.customers import resolve_customer
from records.models import ServiceRecord
from records.service import apply_values
from records.validation import FIELDS, REQUIRED, Problem, RecordValues, validate

__all__ = ["MAX_IMPORT_BYTES", "MAX_IMPORT_ROWS", "ImportFailed", "ImportReport", "LineProblem", "import_records"]

MAX_IMPORT_BYTES = 1024 * 1024
MAX_IMPORT_ROWS = 10_000
_CHUNK = 500  # serial numbers per lookup: well under every driver's limit on bound parameters


@dataclass(frozen=True, slots=True)
class LineProblem:
    """What is wrong with one line of the file (line 0: the file as a whole)."""

    line: int
    problem: Problem


@dataclass(frozen=True, slots=True)
class ImportReport:
    created: int
    updated: int


class ImportFailed(Exception):
    """The file was refused; nothing was written."""

    def __init__(self, filename: str, problems: list[LineProblem]) -> None:
        super().__init__(f"{filename}: {len(problems)} problem(s)")
        self.filename = filename
        self.problems = problems


def _whole(code: str, **params: Any) -> LineProblem:
    return LineProblem(0, Problem("file", code, params))


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte: not a text file")
    text = data.decode("utf-8-sig")
    if any(ord(c) < 32 and c not in "\t\r\n" for c in text):
        raise UnicodeDecodeError("utf-8", data, 0, 1, "control characters: not a text file")
    return text


def _rows(filename: str, data: bytes) -> list[tuple[int, dict[str, str]]]:
    """(line number, fields) of every data row; the file's own problems raise :class:`ImportFailed`."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFailed(filename, [_whole("too_big", max_kib=MAX_IMPORT_BYTES // 1024)])
    try:
        text = _decode(data)
    except UnicodeDecodeError:
        raise ImportFailed(filename, [_whole("not_text")]) from None
    if not text.strip():
        raise ImportFailed(filename, [_whole("empty")])
    first_line = text.lstrip().split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
        header_line = reader.line_num
        unknown = [name for name in header if name not in FIELDS]
        missing = [name for name in REQUIRED if name not in header]
        repeated = sorted({name for name in header if header.count(name) > 1})
        problems = []
        if unknown:
            problems.append(
                LineProblem(header_line, Problem("header", "unknown_columns", {"columns": ", ".join(unknown)}))
            )
        if missing:
            problems.append(
                LineProblem(header_line, Problem("header", "missing_columns", {"columns": ", ".join(missing)}))
            )
        if repeated:
            problems.append(
                LineProblem(header_line, Problem("header", "repeated_columns", {"columns": ", ".join(repeated)}))
            )
        if problems:
            raise ImportFailed(filename, problems)
        rows: list[tuple[int, dict[str, str]]] = []
        wrong_width: list[LineProblem] = []
        last_line = header_line
        for values in reader:
            line, last_line = last_line + 1, reader.line_num
            if not any(v.strip() for v in values):
                continue  # blank lines between rows are harmless
            if len(rows) >= MAX_IMPORT_ROWS:
                raise ImportFailed(filename, [_whole("too_many_rows", max=MAX_IMPORT_ROWS)])
            if len(values) != len(header):
                wrong_width.append(
                    LineProblem(line, Problem("row", "wrong_width", {"found": len(values), "expected": len(header)}))
                )
                continue
            rows.append((line, dict(zip(header, values, strict=True))))
    except csv.Error as exc:
        raise ImportFailed(
            filename, [LineProblem(reader.line_num, Problem("row", "bad_csv", {"reason": str(exc)}))]
        ) from None
    if wrong_width:
        raise ImportFailed(filename, wrong_width)
    if not rows:
        raise ImportFailed(filename, [_whole("no_rows")])
    return rows


async def import_records(session: AsyncSession, filename: str, data: bytes) -> ImportReport:
    """Check every row, then create or update the records in ``session``; :class:`ImportFailed` writes nothing."""
    problems: list[LineProblem] = []
    checked: list[tuple[int, RecordValues, int]] = []
    first_line_of: dict[str, int] = {}
    references: dict[str, int | None] = {}
    for line, raw in _rows(filename, data):
        values, found = validate(raw)
        problems.extend(LineProblem(line, p) for p in found)
        if values is None:
            continue
        if values.customer not in references:
            references[values.customer] = await resolve_customer(session, values.customer)
        customer_id = references[values.customer]
        if customer_id is None:
            problems.append(LineProblem(line, Problem("customer", "unknown_customer", {"value": values.customer})))
        if values.serial_number in first_line_of:
            problems.append(
                LineProblem(
                    line,
                    Problem(
                        "serial_number",
                        "repeated_serial",
                        {"value": values.serial_number, "first": first_line_of[values.serial_number]},
                    ),
                )
            )
        else:
            first_line_of[values.serial_number] = line
        if customer_id is not None:
            checked.append((line, values, customer_id))
    if problems:
        raise ImportFailed(filename, sorted(problems, key=lambda p: p.line))
    serials = list(first_line_of)
    existing: dict[str, ServiceRecord] = {}
    for start in range(0, len(serials), _CHUNK):
        chunk = serials[start : start + _CHUNK]
        for record in await session.scalars(select(ServiceRecord).where(ServiceRecord.serial_number.in_(chunk))):
            existing[record.serial_number] = record
    # A serial number on another customer's record is refused, not moved: a mistyped customer in a file
    # would otherwise silently take equipment away from someone.
    moved = [
        LineProblem(
            line,
            Problem("serial_number", "serial_elsewhere", {"value": values.serial_number}),
        )
        for line, values, customer_id in checked
        if values.serial_number in existing and existing[values.serial_number].customer_id != customer_id
    ]
    if moved:
        raise ImportFailed(filename, moved)
    created = updated = 0
    for _line, values, customer_id in checked:
        target = existing.get(values.serial_number)
        if target is None:
            target = existing[values.serial_number] = ServiceRecord()
            session.add(target)
            created += 1
        else:
            updated += 1
        apply_values(target, values, customer_id)
    await session.flush()
    return ImportReport(created=created, updated=updated)
