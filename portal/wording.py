"""Numbers, durations, opening hours and moments in words, in the page's language.

The words come from the ru/en templates (``portal.yml``); this module only knows each language's plural
rule: Russian has three forms (1 час, 2 часа, 5 часов — and 11 часов, 21 час), English two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from core.templates import Templates
from sla.calendar import MINUTES_PER_DAY, Calendar, WorkInterval
from sla.eta import eta_data

__all__ = ["calendar_hours", "duration", "moment", "plural", "plural_index"]

_WEEKDAYS = 7


def plural_index(count: int, language: str) -> int:
    """Which plural form a number takes: ru 0 = one, 1 = few, 2 = many; en 0 = one, 1 = other."""
    n = abs(count)
    if language == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return 0
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return 1
        return 2
    return 0 if n == 1 else 1


def plural(templates: Templates, key: str, count: int, language: str) -> str:
    """``"5 часов"``: the number and the form of the word the template ``key`` lists for it."""
    forms = templates.raw(key, language)
    if not isinstance(forms, list) or not forms:
        raise ValueError(f"template {key!r} must list the word's plural forms")
    return f"{count} {forms[min(plural_index(count, language), len(forms) - 1)]}"


def duration(templates: Templates, minutes: int, language: str) -> str:
    """``"1 hour 30 minutes"`` / ``"1 час 30 минут"``; whole hours and minutes only (targets are in minutes)."""
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(plural(templates, "catalog.unit.hour", hours, language))
    if rest or not hours:
        parts.append(plural(templates, "catalog.unit.minute", rest, language))
    return " ".join(parts)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _intervals(day: tuple[WorkInterval, ...]) -> str:
    return ", ".join(f"{_hhmm(i.start)}–{_hhmm(i.end)}" for i in day)


def calendar_hours(templates: Templates, calendar: Calendar, language: str) -> str:
    """A calendar's working week in words: ``"Mon–Fri 09:00–18:00 (MSK), except public holidays"`` or ``"24/7"``.

    Consecutive weekdays with the same hours are joined into a range; days off are left out.
    """
    if calendar.always_open or all(day == (WorkInterval(0, MINUTES_PER_DAY),) for day in calendar.weekly):
        return templates.render("catalog.hours.always", language)
    names = templates.raw("catalog.weekdays_short", language)
    if not isinstance(names, list) or len(names) != _WEEKDAYS:
        raise ValueError("template 'catalog.weekdays_short' must list 7 day names, Monday first")
    groups: list[tuple[int, int, tuple[WorkInterval, ...]]] = []
    for index, day in enumerate(calendar.weekly):
        if not day:
            continue
        if groups and groups[-1][1] == index - 1 and groups[-1][2] == day:
            groups[-1] = (groups[-1][0], index, day)
        else:
            groups.append((index, index, day))
    days = "; ".join(
        f"{names[first]}{'–' + names[last] if last > first else ''} {_intervals(hours)}"
        for first, last, hours in groups
    )
    zone = eta_data(datetime.now(UTC), calendar.tz.key, "en" if language == "en" else "ru").tz
    return templates.render(
        "catalog.hours.weekly",
        language,
        days=days,
        zone=zone,
        holidays=calendar.holiday_country is not None or bool(calendar.extra_holidays),
    )


def moment(templates: Templates, when: datetime, language: str, timezone: str) -> str:
    """``"28 ноября, 14:05"`` on the customer's wall clock (an unknown zone falls back to UTC)."""
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    local = when.astimezone(zone)
    months = templates.raw("eta.months", language)
    month = months[local.month - 1] if isinstance(months, list) and len(months) == 12 else str(local.month)
    return templates.render("portal.moment", language, day=local.day, month=month, time=local.strftime("%H:%M"))
