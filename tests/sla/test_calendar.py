"""Business-time arithmetic: concrete cases users would notice, then the laws, checked by hypothesis."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla.calendar import (
    Calendar,
    Pause,
    WorkInterval,
    add_business_minutes,
    business_minutes_between,
    due_with_pauses,
    elapsed_business_minutes,
    is_working,
    next_working_instant,
)
from sla.policy import load_calendars

DATA = Path(__file__).resolve().parents[2] / "data"
MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
EPSILON = timedelta(microseconds=1)


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MSK)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def weekdays(*intervals: str) -> tuple[tuple[WorkInterval, ...], ...]:
    day = tuple(WorkInterval.parse(text) for text in intervals)
    return (day,) * 5 + ((), ())


MOSCOW = load_calendars(DATA / "sla" / "calendars.yml")["moscow-business"]
SPLIT = Calendar(name="split", tz=MSK, weekly=weekdays("09:00-13:00", "14:00-18:00"))
BERLIN_OFFICE = Calendar(name="berlin", tz=BERLIN, weekly=weekdays("09:00-18:00"), holiday_country="DE")
BERLIN_ALL_DAY = Calendar(name="berlin-all-day", tz=BERLIN, weekly=(tuple([WorkInterval.parse("00:00-24:00")]),) * 7)
ALWAYS = Calendar.twenty_four_seven("24x7", MSK)


# --- concrete cases -------------------------------------------------------------------------------


def test_friday_evening_first_response_lands_on_monday() -> None:
    # Standard P3: first response 4 business hours from Friday 17:30.
    due = add_business_minutes(MOSCOW, msk(2026, 11, 27, 17, 30), 4 * 60)
    assert due == msk(2026, 11, 30, 12, 30)
    assert due.tzinfo == MSK


def test_resolution_skips_the_weekend() -> None:
    # 24 business hours: 0.5 h Friday, 9 h Monday, 9 h Tuesday, 5.5 h Wednesday.
    assert add_business_minutes(MOSCOW, msk(2026, 11, 27, 17, 30), 24 * 60) == msk(2026, 12, 2, 14, 30)


def test_new_year_holidays_are_skipped() -> None:
    # 31 December 2026 is a transferred day off, 1-8 January 2027 holidays, 9-10 January a weekend.
    start = msk(2026, 12, 31, 19, 0)
    assert not is_working(MOSCOW, start)
    assert next_working_instant(MOSCOW, start) == msk(2027, 1, 11, 9, 0)
    assert add_business_minutes(MOSCOW, start, 60) == msk(2027, 1, 11, 10, 0)
    assert add_business_minutes(MOSCOW, start, 40 * 60) == msk(2027, 1, 15, 13, 0)


def test_forty_hours_across_the_holidays_is_fast() -> None:
    calendar = load_calendars(DATA / "sla" / "calendars.yml")["moscow-business"]
    began = clock.perf_counter()
    add_business_minutes(calendar, msk(2026, 12, 31, 19, 0), 40 * 60)
    cold = clock.perf_counter() - began
    began = clock.perf_counter()
    for _ in range(1000):
        add_business_minutes(calendar, msk(2026, 12, 31, 19, 0), 40 * 60)
    warm = (clock.perf_counter() - began) / 1000
    # Generous bounds for slow CI; a per-minute loop would take far longer than either.
    assert cold < 0.25
    assert warm < 0.002


def test_shortened_pre_holiday_day_and_may_holidays() -> None:
    # 30 April 2026 ends at 17:00; 1 May (Friday) is a holiday, then the weekend.
    assert not is_working(MOSCOW, msk(2026, 4, 30, 17, 30))
    assert add_business_minutes(MOSCOW, msk(2026, 4, 30, 16, 30), 60) == msk(2026, 5, 4, 9, 30)


def test_transferred_working_saturday() -> None:
    assert is_working(MOSCOW, msk(2027, 2, 20, 10, 0))
    assert not is_working(MOSCOW, msk(2027, 2, 22, 10, 0))  # the day off it pays for
    assert not is_working(MOSCOW, msk(2027, 2, 23, 10, 0))  # Defender of the Fatherland Day
    assert add_business_minutes(MOSCOW, msk(2027, 2, 19, 17, 0), 120) == msk(2027, 2, 20, 10, 0)


def test_twenty_four_seven_is_wall_clock() -> None:
    sunday_night = msk(2026, 11, 29, 23, 30)
    assert is_working(ALWAYS, sunday_night)
    assert add_business_minutes(ALWAYS, sunday_night, 4 * 60) == msk(2026, 11, 30, 3, 30)
    assert business_minutes_between(ALWAYS, sunday_night, msk(2026, 11, 30, 3, 30)) == 240


def test_split_hours_skip_lunch() -> None:
    assert add_business_minutes(SPLIT, msk(2026, 11, 30, 12, 30), 60) == msk(2026, 11, 30, 14, 30)
    assert not is_working(SPLIT, msk(2026, 11, 30, 13, 30))
    assert is_working(SPLIT, msk(2026, 11, 30, 14, 0))
    assert not is_working(SPLIT, msk(2026, 11, 30, 13, 0))  # intervals are half-open
    assert next_working_instant(SPLIT, msk(2026, 11, 30, 13, 30)) == msk(2026, 11, 30, 14, 0)
    assert business_minutes_between(SPLIT, msk(2026, 11, 30, 12, 0), msk(2026, 11, 30, 15, 0)) == 120
    # Work ending exactly at lunch is due at 13:00, not after lunch.
    assert add_business_minutes(SPLIT, msk(2026, 11, 30, 12, 0), 60) == msk(2026, 11, 30, 13, 0)


def test_berlin_office_across_spring_dst_change() -> None:
    # Clocks go forward on Sunday 29 March 2026; the office hours stay 09:00-18:00 local.
    due = add_business_minutes(BERLIN_OFFICE, berlin(2026, 3, 27, 17, 0), 120)
    assert due == berlin(2026, 3, 30, 10, 0)
    assert due.utcoffset() == timedelta(hours=2)
    assert business_minutes_between(BERLIN_OFFICE, berlin(2026, 3, 27, 9, 0), berlin(2026, 3, 30, 18, 0)) == 18 * 60


def test_business_minutes_are_real_minutes_across_dst() -> None:
    # Spring forward: 01:00 CET + 2 real hours = 04:00 CEST.
    spring = add_business_minutes(BERLIN_ALL_DAY, berlin(2026, 3, 29, 1, 0), 120)
    assert spring == berlin(2026, 3, 29, 4, 0)
    # Fall back: 01:00 CEST + 3 real hours = 03:00 CET.
    autumn = add_business_minutes(BERLIN_ALL_DAY, berlin(2026, 10, 25, 1, 0), 180)
    assert autumn == berlin(2026, 10, 25, 3, 0)
    assert autumn.utcoffset() == timedelta(hours=1)
    # The local days themselves last 23 and 25 real hours.
    assert business_minutes_between(BERLIN_ALL_DAY, berlin(2026, 3, 29), berlin(2026, 3, 30)) == 23 * 60
    assert business_minutes_between(BERLIN_ALL_DAY, berlin(2026, 10, 25), berlin(2026, 10, 26)) == 25 * 60


def test_night_shift_interval_spanning_the_dst_change() -> None:
    night = Calendar(name="night", tz=BERLIN, weekly=(tuple([WorkInterval.parse("00:00-06:00")]),) * 7)
    assert business_minutes_between(night, berlin(2026, 3, 29), berlin(2026, 3, 30)) == 5 * 60
    assert business_minutes_between(night, berlin(2026, 10, 25), berlin(2026, 10, 26)) == 7 * 60


def test_interval_starting_inside_the_dst_gap_starts_at_the_jump() -> None:
    # 02:00-03:00 does not exist on 29 March 2026 in Berlin; 02:30-03:30 holds 03:00-03:30 CEST.
    odd = Calendar(name="odd", tz=BERLIN, weekly=(tuple([WorkInterval.parse("02:30-03:30")]),) * 7)
    assert business_minutes_between(odd, berlin(2026, 3, 29), berlin(2026, 3, 30)) == 30
    assert next_working_instant(odd, berlin(2026, 3, 29, 1, 0)) == berlin(2026, 3, 29, 3, 0)


def test_overrides_win_over_template_and_holidays() -> None:
    calendar = Calendar(
        name="o",
        tz=MSK,
        weekly=weekdays("09:00-18:00"),
        holiday_country="RU",
        extra_holidays=frozenset({date(2026, 12, 1)}),
        overrides={date(2026, 12, 2): (), date(2027, 1, 5): (WorkInterval.parse("10:00-12:00"),)},
    )
    assert not is_working(calendar, msk(2026, 12, 1, 10, 0))  # explicit holiday
    assert not is_working(calendar, msk(2026, 12, 2, 10, 0))  # override: day off
    assert is_working(calendar, msk(2027, 1, 5, 11, 0))  # override beats a public holiday
    assert not is_working(calendar, msk(2027, 1, 5, 12, 0))


def test_between_is_negative_backwards_and_rejects_naive() -> None:
    a, b = msk(2026, 11, 30, 9, 0), msk(2026, 11, 30, 12, 0)
    assert business_minutes_between(MOSCOW, b, a) == -180
    with pytest.raises(ValueError, match="aware"):
        business_minutes_between(MOSCOW, datetime(2026, 11, 30, 9, 0), b)
    with pytest.raises(ValueError, match="aware"):
        add_business_minutes(MOSCOW, datetime(2026, 11, 30, 9, 0), 5)
    with pytest.raises(ValueError, match="aware"):
        is_working(MOSCOW, datetime(2026, 11, 30, 9, 0))
    with pytest.raises(ValueError, match=">= 0"):
        add_business_minutes(MOSCOW, a, -1)


def test_result_is_in_calendar_zone_whatever_the_input_zone() -> None:
    due = add_business_minutes(MOSCOW, datetime(2026, 11, 30, 6, 0, tzinfo=UTC), 30)
    assert due.tzinfo == MSK
    assert due == msk(2026, 11, 30, 9, 30)


def test_broken_calendars_are_refused() -> None:
    with pytest.raises(ValueError, match="no working time"):
        Calendar(name="never", tz=MSK)
    with pytest.raises(ValueError, match="overlapping"):
        Calendar(name="x", tz=MSK, weekly=weekdays("09:00-13:00", "12:00-18:00"))
    with pytest.raises(ValueError, match="after its start"):
        WorkInterval.parse("18:00-09:00")
    with pytest.raises(ValueError, match="HH:MM"):
        WorkInterval.parse("9-18")
    with pytest.raises(ValueError, match="not a time"):
        WorkInterval.parse("09:00-24:30")


# --- pauses ---------------------------------------------------------------------------------------


def test_pause_pushes_due_by_the_paused_business_time() -> None:
    start = msk(2026, 11, 30, 10, 0)
    assert due_with_pauses(MOSCOW, start, 240) == msk(2026, 11, 30, 14, 0)
    # 90 business minutes pending on the customer.
    pauses: list[Pause] = [(msk(2026, 11, 30, 11, 0), msk(2026, 11, 30, 12, 30))]
    assert due_with_pauses(MOSCOW, start, 240, pauses) == msk(2026, 11, 30, 15, 30)
    # Paused 17:00 Monday to 10:00 Tuesday: only 60 + 60 business minutes count.
    pauses = [(msk(2026, 11, 30, 17, 0), msk(2026, 12, 1, 10, 0))]
    assert due_with_pauses(MOSCOW, start, 480, pauses) == msk(2026, 12, 1, 11, 0)
    unpaused = due_with_pauses(MOSCOW, start, 480)
    assert unpaused == msk(2026, 11, 30, 18, 0)
    assert add_business_minutes(MOSCOW, unpaused, 120) == msk(2026, 12, 1, 11, 0)


def test_pause_outside_working_hours_changes_nothing() -> None:
    start = msk(2026, 11, 30, 10, 0)
    pauses: list[Pause] = [(msk(2026, 11, 30, 19, 0), msk(2026, 12, 1, 8, 0))]
    assert due_with_pauses(MOSCOW, start, 480, pauses) == due_with_pauses(MOSCOW, start, 480)


def test_open_pause_stops_the_clock() -> None:
    start = msk(2026, 11, 30, 10, 0)
    assert due_with_pauses(MOSCOW, start, 240, [(msk(2026, 11, 30, 11, 0), None)]) is None
    # A target already missed before the pause began stays missed.
    assert due_with_pauses(MOSCOW, start, 60, [(msk(2026, 11, 30, 16, 0), None)]) == msk(2026, 11, 30, 11, 0)
    now = msk(2026, 11, 30, 15, 0)
    assert elapsed_business_minutes(MOSCOW, start, now, [(msk(2026, 11, 30, 11, 0), None)]) == 60


def test_elapsed_counts_overlapping_pauses_once() -> None:
    start, now = msk(2026, 11, 30, 9, 0), msk(2026, 11, 30, 18, 0)
    pauses: list[Pause] = [
        (msk(2026, 11, 30, 10, 0), msk(2026, 11, 30, 12, 0)),
        (msk(2026, 11, 30, 11, 0), msk(2026, 11, 30, 13, 0)),
        (msk(2026, 11, 29, 10, 0), msk(2026, 11, 30, 9, 30)),  # began before the ticket
    ]
    assert elapsed_business_minutes(MOSCOW, start, now, pauses) == 9 * 60 - 180 - 30
    assert elapsed_business_minutes(MOSCOW, now, start) == 0


def test_pause_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="pauses\\[0\\]"):
        due_with_pauses(MOSCOW, msk(2026, 11, 30, 9, 0), 60, [(msk(2026, 11, 30, 12, 0), msk(2026, 11, 30, 11, 0))])


# --- laws -----------------------------------------------------------------------------------------

CALENDARS = st.sampled_from([MOSCOW, SPLIT, BERLIN_OFFICE, BERLIN_ALL_DAY, ALWAYS])
# Around the Russian New Year holidays and both 2026 Berlin DST changes.
INSTANTS = st.datetimes(min_value=datetime(2026, 3, 20), max_value=datetime(2027, 1, 20), timezones=st.just(UTC)).map(
    lambda value: value.replace(second=0, microsecond=0)
)
MINUTES = st.integers(min_value=0, max_value=80 * 60)
LAWS = settings(max_examples=150, deadline=None)


@LAWS
@given(CALENDARS, INSTANTS, MINUTES, MINUTES)
def test_monotonic_in_minutes(calendar: Calendar, start: datetime, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert add_business_minutes(calendar, start, low) <= add_business_minutes(calendar, start, high)
    if low < high:
        assert add_business_minutes(calendar, start, low) < add_business_minutes(calendar, start, high)


@LAWS
@given(CALENDARS, INSTANTS, MINUTES, MINUTES)
def test_additive_when_the_second_step_is_positive(calendar: Calendar, start: datetime, a: int, b: int) -> None:
    # add(t, a) may stop exactly at an interval end; add(., 0) would then jump to the next start,
    # so the law is: add(add(t, a), b) == add(t, a + b) for b > 0, and for b == 0 the left side is
    # next_working_instant(add(t, a)).
    first = add_business_minutes(calendar, start, a)
    if b > 0:
        assert add_business_minutes(calendar, first, b) == add_business_minutes(calendar, start, a + b)
    else:
        assert add_business_minutes(calendar, first, 0) == next_working_instant(calendar, first)


@LAWS
@given(CALENDARS, INSTANTS, MINUTES.filter(lambda n: n > 0))
def test_positive_sum_lands_inside_working_time_or_at_an_interval_end(
    calendar: Calendar, start: datetime, minutes: int
) -> None:
    due = add_business_minutes(calendar, start, minutes)
    assert due > start
    # The instant just before the due time is working time: due is inside an interval or its end.
    assert is_working(calendar, due - EPSILON)
    assert business_minutes_between(calendar, start, due) == minutes


@LAWS
@given(CALENDARS, INSTANTS)
def test_zero_is_the_next_working_instant(calendar: Calendar, start: datetime) -> None:
    # add(t, 0) == t on working instants, else the start of the next working interval.
    due = add_business_minutes(calendar, start, 0)
    assert due == next_working_instant(calendar, start)
    assert is_working(calendar, due)
    assert business_minutes_between(calendar, start, due) == 0
    if is_working(calendar, start):
        assert due == start
    else:
        assert due > start


@LAWS
@given(CALENDARS, INSTANTS, MINUTES, st.lists(st.tuples(INSTANTS, st.integers(0, 3000)), max_size=4))
def test_due_with_pauses_matches_elapsed(
    calendar: Calendar, start: datetime, minutes: int, raw: list[tuple[datetime, int]]
) -> None:
    pauses: list[Pause] = [(since, since + timedelta(minutes=length)) for since, length in raw]
    due = due_with_pauses(calendar, start, minutes, pauses)
    assert due is not None
    assert elapsed_business_minutes(calendar, start, due, pauses) == minutes
    assert due >= add_business_minutes(calendar, start, minutes)


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(min_value=datetime(2026, 12, 24), max_value=datetime(2027, 1, 14)).map(
        lambda value: value.replace(second=0, microsecond=0, tzinfo=MSK)
    ),
    st.integers(min_value=0, max_value=600),
)
def test_agrees_with_a_minute_by_minute_reference(start: datetime, minutes: int) -> None:
    # Independent oracle: Moscow has no DST, so wall-clock minutes are real minutes.
    off = {date(2026, 12, 31)} | {date(2027, 1, day) for day in range(1, 9)}

    def working(moment: datetime) -> bool:
        local = moment.astimezone(MSK)
        return local.weekday() < 5 and local.date() not in off and 9 <= local.hour < 18

    cursor, remaining = start, minutes
    while not working(cursor) or remaining:
        if working(cursor):
            remaining -= 1
            if remaining == 0:
                cursor += timedelta(minutes=1)
                break
        cursor += timedelta(minutes=1)
    assert add_business_minutes(MOSCOW, start, minutes) == cursor
