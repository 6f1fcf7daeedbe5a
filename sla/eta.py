"""The promised resolution time as data for the customer's message.

This module produces values, not sentences: weekday and month names and the sentence shape come
from ``data/templates/<language>/eta.yml`` (keys ``eta.weekdays``, ``eta.months``, ``eta.format``)
and are passed in by the caller. Given the caller's ``now``, a due time on the customer's today or
tomorrow is worded with ``eta.today`` / ``eta.tomorrow`` instead ("сегодня в 15:00 (МСК)"): a date
the customer is living in reads like a stranger's calendar.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "FORMAT_KEY",
    "MONTHS_KEY",
    "TODAY_KEY",
    "TOMORROW_KEY",
    "WEEKDAYS_KEY",
    "Eta",
    "Language",
    "eta_data",
    "eta_values",
    "format_eta",
    "template_key",
]

Language = Literal["ru", "en"]

WEEKDAYS_KEY = "eta.weekdays"
MONTHS_KEY = "eta.months"
FORMAT_KEY = "eta.format"
TODAY_KEY = "eta.today"
TOMORROW_KEY = "eta.tomorrow"

# Zones whose customers know them by an abbreviation rather than an offset. Anything else is shown
# as "UTC+3", which nobody misreads; most tz-database abbreviations are just "+05" anyway.
_ZONE_ABBREVIATIONS: Mapping[str, Mapping[str, str]] = {
    "Europe/Moscow": {"ru": "МСК", "en": "MSK"},
}
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True, slots=True)
class Eta:
    local: datetime
    weekday: int  # 0 = Monday, as datetime.weekday()
    day: int
    month: int  # 1 = January
    time: str  # "14:00"
    tz: str  # "МСК" / "MSK" for Moscow, otherwise "UTC+3", "UTC-4:30", "UTC"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc


def _offset_label(offset: timedelta) -> str:
    total = int(offset.total_seconds()) // 60
    if total == 0:
        return "UTC"
    sign = "+" if total > 0 else "-"
    hours, minutes = divmod(abs(total), 60)
    return f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "")


def eta_data(due: datetime, tz: str, language: Language) -> Eta:
    """``due`` seen on the customer's wall clock in zone ``tz``."""
    if due.tzinfo is None or due.utcoffset() is None:
        raise ValueError(f"due must be an aware datetime, got naive {due.isoformat()}")
    if language not in get_args(Language):
        raise ValueError(f"unsupported language {language!r}")
    local = due.astimezone(_zone(tz))
    offset = local.utcoffset()
    assert offset is not None  # astimezone(ZoneInfo) always yields an aware datetime
    label = _ZONE_ABBREVIATIONS.get(tz, {}).get(language) or _offset_label(offset)
    return Eta(
        local=local,
        weekday=local.weekday(),
        day=local.day,
        month=local.month,
        time=f"{local.hour:02d}:{local.minute:02d}",
        tz=label,
    )


def _names(names: Mapping[str, object], key: str, count: int) -> Sequence[str]:
    value = names.get(key)
    if not isinstance(value, list | tuple) or len(value) != count or not all(isinstance(v, str) for v in value):
        raise ValueError(f"template key {key!r} must be a list of {count} strings")
    return value


def eta_values(due: datetime, tz: str, language: Language, names: Mapping[str, object]) -> dict[str, str]:
    """Placeholder values for ``eta.format``: ``weekday``, ``day``, ``month``, ``time``, ``tz``.

    Also usable with a Jinja2 renderer: ``templates.render("eta.format", language, **values)``.
    """
    eta = eta_data(due, tz, language)
    return {
        "weekday": _names(names, WEEKDAYS_KEY, 7)[eta.weekday],
        "day": str(eta.day),
        "month": _names(names, MONTHS_KEY, 12)[eta.month - 1],
        "time": eta.time,
        "tz": eta.tz,
    }


def template_key(due: datetime, tz: str, now: datetime | None) -> str:
    """``eta.today`` / ``eta.tomorrow`` when ``due`` falls on the customer's today / tomorrow, else ``eta.format``.

    Without ``now`` the date is always spelled out.
    """
    if now is None:
        return FORMAT_KEY
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be an aware datetime, got naive {now.isoformat()}")
    zone = _zone(tz)
    days = (due.astimezone(zone).date() - now.astimezone(zone).date()).days
    return {0: TODAY_KEY, 1: TOMORROW_KEY}.get(days, FORMAT_KEY)


def format_eta(
    due: datetime, tz: str, language: Language, names: Mapping[str, object], now: datetime | None = None
) -> str:
    """Fill the ``eta.format`` template from ``names`` with the ETA of ``due``.

    ``names`` is the flat template mapping of ``language``: ``eta.weekdays`` (7, Monday first),
    ``eta.months`` (12, January first) and ``eta.format`` with ``{{ weekday }}``, ``{{ day }}``,
    ``{{ month }}``, ``{{ time }}``, ``{{ tz }}`` placeholders. With ``now`` (the moment the customer
    reads it), ``eta.today`` or ``eta.tomorrow`` is filled instead when ``due`` is on that day or the next
    one on the customer's calendar.
    """
    values = eta_values(due, tz, language, names)
    key = template_key(due, tz, now)
    template = names.get(key)
    if not isinstance(template, str):
        raise ValueError(f"template key {key!r} must be a string")

    def substitute(match: re.Match[str]) -> str:
        placeholder = match.group(1)
        if placeholder not in values:
            raise ValueError(f"unknown placeholder {{{{ {placeholder} }}}} in {key!r}")
        return values[placeholder]

    return _PLACEHOLDER.sub(substitute, template)
