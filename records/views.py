"""A service record as the pages show it: its dates marked expired (or overdue) and due soon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from records.models import ServiceRecord
from records.schedule import DUE_SOON_DAYS

__all__ = ["RecordView", "mark", "today", "view"]


def today() -> date:
    """The date the marks are counted from (UTC: one date for every admin and operator)."""
    return datetime.now(UTC).date()


def mark(day: date | None, on: date, within_days: int = DUE_SOON_DAYS) -> str | None:
    """``expired`` for a date before ``on``, ``due_soon`` for one within ``within_days``, else None."""
    if day is None:
        return None
    if day < on:
        return "expired"
    if day <= on + timedelta(days=within_days):
        return "due_soon"
    return None


@dataclass(frozen=True, slots=True)
class RecordView:
    record: ServiceRecord
    warranty: str | None
    period: str | None
    check: str | None

    @property
    def marked(self) -> bool:
        return any((self.warranty, self.period, self.check))


def view(record: ServiceRecord, on: date) -> RecordView:
    return RecordView(
        record,
        warranty=mark(record.warranty_end, on),
        period=mark(record.service_period_end, on),
        check=mark(record.next_check_on, on),
    )
