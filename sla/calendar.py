"""Business calendars and business-time arithmetic for SLA clocks.

Working time is a set of local wall-clock intervals per day (weekly template, public holidays,
one-off date overrides). Each interval is converted to a pair of absolute instants, so a business
minute is always a real elapsed minute: a 09:00-18:00 day lasts 9 hours even when the clocks change
that night, and an interval that spans a DST change lasts what a wall clock on the office wall
would really show. All arithmetic runs in UTC; results are returned in the calendar's time zone.

Intervals are half-open, ``[start, end)``: the end instant itself is not working time.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "MINUTES_PER_DAY",
    "Calendar",
    "Pause",
    "WorkInterval",
    "add_business_minutes",
    "business_minutes_between",
    "check_intervals",
    "due_with_pauses",
    "elapsed_business_minutes",
    "is_working",
    "next_working_instant",
]

MINUTES_PER_DAY = 24 * 60
# A calendar whose template has working time reaches it within a week; holidays and overrides can
# only push it so far. Ten years in a row without a working minute means a broken calendar, and
# raising beats spinning forever.
_MAX_SCAN_DAYS = 3660
_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")

# A pause on the SLA clock: (from, until); until=None means the pause is still running.
Pause = tuple[datetime, datetime | None]


@dataclass(frozen=True, slots=True, order=True)
class WorkInterval:
    """Local wall-clock working interval within one day, in minutes since midnight.

    ``end`` may be 1440 (24:00) so a day can run to midnight.
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < MINUTES_PER_DAY or not 0 < self.end <= MINUTES_PER_DAY:
            raise ValueError(f"interval bounds out of range: {self}")
        if self.end <= self.start:
            raise ValueError(f"interval end must be after its start: {self}")

    @classmethod
    def parse(cls, text: str) -> WorkInterval:
        """Parse ``"HH:MM-HH:MM"`` (``24:00`` allowed as an end)."""
        parts = text.split("-")
        if len(parts) != 2:
            raise ValueError(f"expected 'HH:MM-HH:MM', got {text!r}")
        return cls(_parse_hhmm(parts[0].strip()), _parse_hhmm(parts[1].strip()))

    def __str__(self) -> str:
        return f"{_format_hhmm(self.start)}-{_format_hhmm(self.end)}"


def _parse_hhmm(text: str) -> int:
    match = _HHMM.match(text)
    if match is None:
        raise ValueError(f"expected 'HH:MM', got {text!r}")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes >= 60 or hours > 24 or (hours == 24 and minutes != 0):
        raise ValueError(f"not a time of day: {text!r}")
    return hours * 60 + minutes


def _format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def check_intervals(intervals: Sequence[WorkInterval]) -> tuple[WorkInterval, ...]:
    """Sort intervals and refuse overlaps; touching intervals (13:00-14:00, 14:00-15:00) are fine."""
    ordered = tuple(sorted(intervals))
    for previous, current in itertools.pairwise(ordered):
        if current.start < previous.end:
            raise ValueError(f"overlapping intervals {previous} and {current}")
    return ordered


@dataclass(frozen=True)
class Calendar:
    """A business calendar.

    ``weekly`` holds the intervals for Monday..Sunday (index 0..6). A date in ``overrides`` uses its
    own intervals (an empty tuple makes it a day off) and wins over both the template and holidays,
    which is how transferred working Saturdays and shortened pre-holiday days are expressed.
    ``always_open`` is the 24/7 calendar: every instant is working time.
    """

    name: str
    tz: ZoneInfo
    weekly: tuple[tuple[WorkInterval, ...], ...] = ((),) * 7
    holiday_country: str | None = None
    holiday_subdiv: str | None = None
    extra_holidays: frozenset[date] = frozenset()
    overrides: Mapping[date, tuple[WorkInterval, ...]] = field(default_factory=dict)
    always_open: bool = False
    # Lazily filled caches; excluded from equality so two equal definitions stay equal.
    _holiday_years: dict[int, frozenset[date]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _spans: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError(f"calendar {self.name!r}: weekly template needs 7 days, got {len(self.weekly)}")
        object.__setattr__(self, "weekly", tuple(check_intervals(day) for day in self.weekly))
        object.__setattr__(self, "overrides", {day: check_intervals(ivs) for day, ivs in self.overrides.items()})
        if not self.always_open and not any(self.weekly):
            raise ValueError(f"calendar {self.name!r} has no working time in its weekly template")
        if self.holiday_country is not None:
            # Fail at construction, not at the first SLA computation, on an unknown country code.
            self._holidays_of(datetime.now(UTC).year)

    @classmethod
    def twenty_four_seven(cls, name: str, tz: ZoneInfo) -> Calendar:
        return cls(name=name, tz=tz, always_open=True)

    def intervals_on(self, day: date) -> tuple[WorkInterval, ...]:
        """Local working intervals of a calendar date, after holidays and overrides."""
        if self.always_open:
            return (WorkInterval(0, MINUTES_PER_DAY),)
        if day in self.overrides:
            return self.overrides[day]
        if day in self.extra_holidays or day in self._holidays_of(day.year):
            return ()
        return self.weekly[day.weekday()]

    def _holidays_of(self, year: int) -> frozenset[date]:
        cached = self._holiday_years.get(year)
        if cached is None:
            if self.holiday_country is None:
                cached = frozenset()
            else:
                table = holidays.country_holidays(self.holiday_country, subdiv=self.holiday_subdiv, years=year)
                cached = frozenset(table.keys())
            self._holiday_years[year] = cached
        return cached

    def spans_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """Working intervals of a local date as absolute UTC ``[start, end)`` pairs, empty ones dropped."""
        cached = self._spans.get(day)
        if cached is None:
            spans = []
            for interval in self.intervals_on(day):
                start = _local_to_utc(self.tz, day, interval.start)
                end = _local_to_utc(self.tz, day, interval.end)
                # An interval wholly inside a DST gap has no real time in it.
                if end > start:
                    spans.append((start, end))
            cached = tuple(spans)
            self._spans[day] = cached
        return cached


def _local_to_utc(tz: ZoneInfo, day: date, minute: int) -> datetime:
    """The instant a local wall clock shows ``day`` + ``minute``.

    Ambiguous wall times (autumn fall-back) take the first occurrence. Wall times that do not exist
    (spring-forward gap) map to the instant the clocks jump, which keeps the mapping monotonic:
    a 02:30-03:30 interval on the spring-forward night holds the 30 real minutes 03:00-03:30.
    """
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    earliest = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if earliest.astimezone(tz).replace(tzinfo=None) == wall:
        return earliest
    return _gap_end(tz, wall.replace(tzinfo=tz, fold=1).astimezone(UTC), earliest)


def _gap_end(tz: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """First instant in ``(low, high]`` whose UTC offset differs from ``low``'s: the transition."""
    before = low.astimezone(tz).utcoffset()
    lo, hi = low, high
    # Offsets change on whole seconds; bisect to one-second precision (a dozen steps per hour).
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return hi.replace(microsecond=0)


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _add(calendar: Calendar, start: datetime, amount: timedelta) -> datetime:
    """``start`` (UTC) plus ``amount`` of working time, as a UTC instant."""
    if calendar.always_open:
        return start + amount
    remaining = amount
    cursor = start
    day = cursor.astimezone(calendar.tz).date()
    idle_days = 0
    while idle_days < _MAX_SCAN_DAYS:
        idle_days += 1
        for span_start, span_end in calendar.spans_on(day):
            if span_end <= cursor:
                continue
            idle_days = 0
            begin = max(span_start, cursor)
            available = span_end - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
            cursor = span_end
        day += _ONE_DAY
    raise ValueError(f"calendar {calendar.name!r} has no working time within {_MAX_SCAN_DAYS} days")


def _between(calendar: Calendar, a: datetime, b: datetime) -> timedelta:
    """Working time inside ``[a, b)`` (UTC instants, ``a <= b``)."""
    if b <= a:
        return _ZERO
    if calendar.always_open:
        return b - a
    total = _ZERO
    day = a.astimezone(calendar.tz).date()
    last = b.astimezone(calendar.tz).date()
    while day <= last:
        for span_start, span_end in calendar.spans_on(day):
            overlap = min(span_end, b) - max(span_start, a)
            if overlap > _ZERO:
                total += overlap
        day += _ONE_DAY
    return total


def _whole_minutes(value: timedelta) -> int:
    return int(value.total_seconds() // 60)


def add_business_minutes(calendar: Calendar, start: datetime, minutes: int) -> datetime:
    """The instant ``minutes`` of working time after ``start``, in the calendar's zone.

    For ``minutes > 0`` the result lies inside a working interval or exactly at its end (work that
    ends at 18:00 is due at 18:00, not at 09:00 next day). For ``minutes == 0`` the result is
    :func:`next_working_instant` of ``start``. Consequently ``add(add(t, a), b) == add(t, a + b)``
    whenever ``b > 0``.
    """
    if minutes < 0:
        raise ValueError(f"minutes must be >= 0, got {minutes}")
    return _add(calendar, _utc(start, "start"), timedelta(minutes=minutes)).astimezone(calendar.tz)


def business_minutes_between(calendar: Calendar, a: datetime, b: datetime) -> int:
    """Whole minutes of working time from ``a`` to ``b``; negative when ``b`` is before ``a``."""
    start, end = _utc(a, "a"), _utc(b, "b")
    if end < start:
        return -_whole_minutes(_between(calendar, end, start))
    return _whole_minutes(_between(calendar, start, end))


def is_working(calendar: Calendar, t: datetime) -> bool:
    instant = _utc(t, "t")
    if calendar.always_open:
        return True
    day = instant.astimezone(calendar.tz).date()
    # A span of the previous local day cannot reach past midnight, so today's spans decide.
    return any(start <= instant < end for start, end in calendar.spans_on(day))


def next_working_instant(calendar: Calendar, t: datetime) -> datetime:
    """``t`` itself when it is working time, else the start of the next working interval."""
    return _add(calendar, _utc(t, "t"), _ZERO).astimezone(calendar.tz)


def _merge_pauses(pauses: Sequence[Pause], floor: datetime) -> list[tuple[datetime, datetime | None]]:
    """Pauses as sorted, disjoint UTC intervals clipped to start at ``floor`` or later."""
    normalized: list[tuple[datetime, datetime | None]] = []
    for index, (since, until) in enumerate(pauses):
        begin = _utc(since, f"pauses[{index}] start")
        end = None if until is None else _utc(until, f"pauses[{index}] end")
        if end is not None and end < begin:
            raise ValueError(f"pauses[{index}] ends before it starts")
        if end is not None and end <= floor:
            continue
        normalized.append((max(begin, floor), end))
    normalized.sort(key=lambda pause: pause[0])
    merged: list[tuple[datetime, datetime | None]] = []
    for begin, end in normalized:
        if merged:
            last_begin, last_end = merged[-1]
            if last_end is None:
                # An open pause swallows everything after it.
                break
            if begin <= last_end:
                merged[-1] = (last_begin, None if end is None else max(last_end, end))
                continue
        merged.append((begin, end))
    return merged


def elapsed_business_minutes(calendar: Calendar, start: datetime, now: datetime, pauses: Sequence[Pause] = ()) -> int:
    """Whole minutes of working time from ``start`` to ``now`` with the clock stopped during pauses.

    An open pause (``until=None``) runs up to ``now``. Pauses may overlap; overlaps count once.
    """
    begin, end = _utc(start, "start"), _utc(now, "now")
    if end <= begin:
        return 0
    total = _between(calendar, begin, end)
    for since, until in _merge_pauses(pauses, begin):
        total -= _between(calendar, since, end if until is None else min(until, end))
    return _whole_minutes(total)


def due_with_pauses(calendar: Calendar, start: datetime, minutes: int, pauses: Sequence[Pause] = ()) -> datetime | None:
    """When ``minutes`` of un-paused working time after ``start`` run out, in the calendar's zone.

    Returns ``None`` while the clock is stopped: there is an open pause and the target was not
    already reached before it began (the due time depends on when the pause ends). A target reached
    before a pause started keeps its due time, so a breach cannot be undone by pausing.
    """
    if minutes < 0:
        raise ValueError(f"minutes must be >= 0, got {minutes}")
    cursor = _utc(start, "start")
    remaining = timedelta(minutes=minutes)
    for since, until in _merge_pauses(pauses, cursor):
        if since > cursor:
            candidate = _add(calendar, cursor, remaining)
            if candidate <= since:
                return candidate.astimezone(calendar.tz)
            remaining -= _between(calendar, cursor, since)
        if until is None:
            return None
        cursor = max(cursor, until)
    return _add(calendar, cursor, remaining).astimezone(calendar.tz)
