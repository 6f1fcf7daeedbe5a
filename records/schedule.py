"""Dates of a service record: adding months, the next check, and what counts as expired or due soon."""

from __future__ import annotations

import calendar
from datetime import date

__all__ = ["DUE_SOON_DAYS", "add_months", "next_check"]

DUE_SOON_DAYS = 30
"""How close a date must be to count as "due soon" on the pages and the customer card."""


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months; the 31st becomes the last day of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_check(installed_on: date | None, last_check_on: date | None, interval_months: int | None) -> date | None:
    """When the next check is due: the last check (or the installation) plus the interval; None without both."""
    start = last_check_on or installed_on
    if start is None or not interval_months:
        return None
    return add_months(start, interval_months)
