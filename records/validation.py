"""What a service record may hold: one check for the admin form and for every row of a CSV import.

Problems carry a code and parameters, never prose: the pages word them from the ru/en templates
(``records.problem.<code>``), so the form and the import say the same thing in the admin's language.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from core.security import storable_text
from records.models import RecordKind

__all__ = ["FIELDS", "MAX_INTERVAL_MONTHS", "Problem", "RecordValues", "parse_date", "validate"]

FIELDS = (
    "customer",
    "kind",
    "name",
    "serial_number",
    "installed_on",
    "interval_months",
    "last_check_on",
    "warranty_end",
    "service_period_end",
    "note",
)
"""Every field of a record as the form and the CSV header name it."""
REQUIRED = ("customer", "name", "serial_number")
DATE_FIELDS = ("installed_on", "last_check_on", "warranty_end", "service_period_end")
LIMITS = {"customer": 150, "kind": 32, "name": 200, "serial_number": 100, "interval_months": 10, "note": 2000}
for _date_field in DATE_FIELDS:
    # Longer than any date, yet short enough to quote back: "in late December" is reported as not a date.
    LIMITS[_date_field] = 40
MAX_INTERVAL_MONTHS = 600  # fifty years: anything longer is a typo, not a service plan
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
_DOTTED = re.compile(r"(\d{2})\.(\d{2})\.(\d{4})")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one field; ``code`` names the text ``records.problem.<code>``."""

    field: str
    code: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordValues:
    """A record's fields, checked; ``customer`` is still the reference the admin typed (see records.customers)."""

    customer: str
    kind: RecordKind
    name: str
    serial_number: str
    installed_on: date | None
    interval_months: int | None
    last_check_on: date | None
    warranty_end: date | None
    service_period_end: date | None
    note: str


def parse_date(value: str) -> date | None:
    """``2026-12-31`` or ``31.12.2026``; empty is None; anything else (or no such day) raises ValueError."""
    value = value.strip()
    if not value:
        return None
    if _ISO.fullmatch(value):
        return date.fromisoformat(value)
    dotted = _DOTTED.fullmatch(value)
    if dotted:
        day, month, year = (int(part) for part in dotted.groups())
        return date(year, month, day)
    raise ValueError(value)


def validate(raw: Mapping[str, str]) -> tuple[RecordValues | None, list[Problem]]:
    """Check the fields of one record; either the values or every problem found (all of them, not the first)."""
    problems: list[Problem] = []
    text = {name: storable_text(str(raw.get(name) or "")).strip() for name in FIELDS}
    for name in FIELDS:
        if len(text[name]) > LIMITS[name]:
            problems.append(Problem(name, "too_long", {"max": LIMITS[name]}))
            text[name] = ""
    for name in REQUIRED:
        if not text[name] and not any(p.field == name for p in problems):
            problems.append(Problem(name, "required"))
    try:
        kind = RecordKind(text["kind"].lower() or RecordKind.EQUIPMENT)
    except ValueError:
        problems.append(Problem("kind", "bad_kind", {"value": text["kind"]}))
        kind = RecordKind.EQUIPMENT
    dates: dict[str, date | None] = {}
    for name in DATE_FIELDS:
        try:
            dates[name] = parse_date(text[name])
        except ValueError:
            problems.append(Problem(name, "bad_date", {"value": text[name]}))
            dates[name] = None
    interval: int | None = None
    if text["interval_months"]:
        if text["interval_months"].isdigit() and 0 < int(text["interval_months"]) <= MAX_INTERVAL_MONTHS:
            interval = int(text["interval_months"])
        else:
            problems.append(
                Problem(
                    "interval_months", "bad_interval", {"value": text["interval_months"], "max": MAX_INTERVAL_MONTHS}
                )
            )
    installed = dates["installed_on"]
    if installed is not None:
        for name in ("last_check_on", "warranty_end", "service_period_end"):
            day = dates[name]
            if day is not None and day < installed:
                problems.append(Problem(name, "before_installation", {"value": day.isoformat()}))
    if problems:
        return None, problems
    return (
        RecordValues(
            customer=text["customer"],
            kind=kind,
            name=text["name"],
            serial_number=text["serial_number"],
            installed_on=installed,
            interval_months=interval,
            last_check_on=dates["last_check_on"],
            warranty_end=dates["warranty_end"],
            service_period_end=dates["service_period_end"],
            note=text["note"],
        ),
        [],
    )
