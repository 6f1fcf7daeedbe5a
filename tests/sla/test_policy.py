"""SLA plans, targets, the priority matrix and refusal of bad configuration files.

The arithmetic and the loader are tested on the tests' own files (:mod:`tests.support.sla`); the shipped,
editable files in data/sla are checked against the rules any policy must keep.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.datafiles import DataFileError
from core.settings import ROOT
from sla.calendar import Pause
from sla.policy import (
    Impact,
    Priority,
    SlaPolicy,
    UnknownPlanError,
    Urgency,
    parse_minutes,
)
from tests.support.sla import write_policy

DATA = ROOT / "data"
MSK = ZoneInfo("Europe/Moscow")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> SlaPolicy:
    return SlaPolicy.load(write_policy(tmp_path_factory.mktemp("policy")))


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MSK)


def test_the_loader_reads_what_the_files_say(config: SlaPolicy) -> None:
    assert config.default_plan == "standard"
    standard, premium = config.plan("standard"), config.plan("premium")
    assert standard.names == {"ru": "Стандарт", "en": "Standard"}
    assert premium.names == {"ru": "Люкс", "en": "Premium"}
    assert config.calendar_for("standard").name == "moscow-business"
    assert config.calendar_for("premium").always_open
    expected_standard = {"P1": (60, 480), "P2": (120, 960), "P3": (240, 1440), "P4": (480, 2400)}
    expected_premium = {"P1": (15, 240), "P2": (30, 480), "P3": (60, 1440), "P4": (240, 4320)}
    for plan, expected in (("standard", expected_standard), ("premium", expected_premium)):
        for priority, (first, resolution) in expected.items():
            targets = config.targets(plan, priority)
            assert (targets.first_response, targets.resolution) == (first, resolution)
            assert targets.next_response == targets.first_response


def test_standard_p3_friday_evening(config: SlaPolicy) -> None:
    due = config.due_times("standard", Priority.P3, msk(2026, 11, 27, 17, 30))
    assert due.first_response == msk(2026, 11, 30, 12, 30)
    assert due.next_response == msk(2026, 11, 30, 12, 30)
    assert due.resolution == msk(2026, 12, 2, 14, 30)


def test_standard_over_new_year(config: SlaPolicy) -> None:
    due = config.due_times("standard", "P4", msk(2026, 12, 31, 20, 0))
    assert due.first_response == msk(2027, 1, 11, 17, 0)
    assert due.resolution == msk(2027, 1, 15, 13, 0)


def test_premium_runs_around_the_clock(config: SlaPolicy) -> None:
    sunday_night = msk(2026, 11, 29, 23, 30)
    due = config.due_times("premium", "P1", sunday_night)
    assert due.first_response == msk(2026, 11, 29, 23, 45)
    assert due.resolution == msk(2026, 11, 30, 3, 30)


def test_due_times_with_pauses(config: SlaPolicy) -> None:
    start = msk(2026, 11, 30, 10, 0)
    pauses: list[Pause] = [(msk(2026, 11, 30, 11, 0), msk(2026, 11, 30, 12, 0))]
    due = config.due_times("standard", "P1", start, pauses)
    assert due.first_response == msk(2026, 11, 30, 11, 0)  # reached as the pause began
    assert due.resolution == msk(2026, 12, 1, 10, 0)  # 8 business hours + the paused hour
    stopped = config.due_times("standard", "P1", start, [(msk(2026, 11, 30, 10, 30), None)])
    assert stopped.first_response is None
    assert stopped.resolution is None


def test_unknown_plan_and_priority(config: SlaPolicy) -> None:
    with pytest.raises(UnknownPlanError, match="gold"):
        config.due_times("gold", "P1", msk(2026, 11, 30, 10, 0))
    with pytest.raises(ValueError, match="P9"):
        config.targets("standard", "P9")


def test_priority_matrix(config: SlaPolicy) -> None:
    expected = {
        ("high", "many"): "P1",
        ("high", "several"): "P1",
        ("high", "one"): "P2",
        ("medium", "many"): "P2",
        ("medium", "several"): "P2",
        ("medium", "one"): "P3",
        ("low", "many"): "P3",
        ("low", "several"): "P3",
        ("low", "one"): "P4",
    }
    for (urgency, impact), priority in expected.items():
        assert config.priority_for(urgency, impact) == priority
    assert config.priority_for(Urgency.HIGH, Impact.MANY) is Priority.P1
    with pytest.raises(ValueError, match="urgent"):
        config.priority_for("urgent", "one")


@pytest.mark.parametrize(
    ("value", "minutes"), [(45, 45), ("15m", 15), ("1h", 60), ("8h", 480), ("1h30m", 90), ("72h", 4320)]
)
def test_parse_minutes(value: object, minutes: int) -> None:
    assert parse_minutes(value) == minutes


@pytest.mark.parametrize("value", ["1d", "", "h", "1.5h", True, None, "1h 30"])
def test_parse_minutes_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_minutes(value)


# --- bad files ------------------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_policy(tmp_path)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def load_error(data_dir: Path) -> DataFileError:
    with pytest.raises(DataFileError) as caught:
        SlaPolicy.load(data_dir)
    error = caught.value
    assert str(error.file) in str(error)
    assert error.key in str(error)
    return error


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        (
            'mon: ["09:00-18:00"]',
            'mon: ["09:00-13:00", "12:00-18:00"]',
            "calendars.moscow-business.week.mon",
            "overlap",
        ),
        (
            'tue: ["09:00-18:00"]',
            'tue: ["18:00-09:00"]',
            "calendars.moscow-business.week.tue",
            "after its start",
        ),
        (
            'wed: ["09:00-18:00"]',
            'wed: ["09:00-18:00", "18:00-18:00"]',
            "calendars.moscow-business.week.wed",
            "after",
        ),
        (
            "timezone: Europe/Moscow",
            "timezone: Europe/Moskow",
            "calendars.moscow-business.timezone",
            "Moskow",
        ),
        ("country: RU", "country: XX", "calendars.moscow-business.holidays", "XX"),
        (
            '"2026-04-30": ["09:00-17:00"]',
            '"2026-04-30": ["9-17"]',
            "calendars.moscow-business.overrides.2026-04-30",
            "HH:MM",
        ),
        (
            "always_open: true",
            "always_open: true\n    week: {mon: ['09:00-18:00']}",
            "calendars.24x7",
            "always_open",
        ),
        (
            "    timezone: Europe/Moscow\n    week:",
            "    timezone: Europe/Moscow\n    weeks: {}\n    week:",
            "calendars.moscow-business.weeks",
            "xtra",
        ),
    ],
)
def test_bad_calendar_files(data_dir: Path, old: str, new: str, key: str, reason: str) -> None:
    path = data_dir / "sla" / "calendars.yml"
    edit(path, old, new)
    error = load_error(data_dir)
    assert error.file == path
    assert error.key == key
    assert reason in error.reason


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        ("calendar: 24x7", "calendar: 24x5", "plans.premium.calendar", "24x5"),
        ("      P4: {first_response: 4h, resolution: 72h}\n", "", "plans.premium.targets.P4", "missing"),
        ("default_plan: standard", "default_plan: gold", "default_plan", "gold"),
        (
            "P2: {first_response: 2h,",
            "P2: {first_response: 2d,",
            "plans.standard.targets.P2.first_response",
            "duration",
        ),
        (
            "P1: {first_response: 15m,",
            "P1: {first_response: 0,",
            "plans.premium.targets.P1.first_response",
            "greater",
        ),
        ("P3: {first_response: 4h,", "P5: {first_response: 4h,", "plans.standard.targets.P5.[key]", "P1"),
    ],
)
def test_bad_plan_files(data_dir: Path, old: str, new: str, key: str, reason: str) -> None:
    path = data_dir / "sla" / "plans.yml"
    edit(path, old, new)
    error = load_error(data_dir)
    assert error.file == path
    assert error.key == key
    assert reason in error.reason


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("low:    {many: P3, several: P3, one: P4}", "low:    {many: P3, several: P3}", "matrix.low.one"),
        ("low:    {many: P3, several: P3, one: P4}\n", "", "matrix.low"),
        ("one: P4}", "one: P7}", "matrix.low.one"),
    ],
)
def test_bad_priority_files(data_dir: Path, old: str, new: str, key: str) -> None:
    path = data_dir / "sla" / "priority.yml"
    edit(path, old, new)
    error = load_error(data_dir)
    assert error.file == path
    assert error.key == key


def test_duplicate_keys_and_broken_yaml_are_refused(data_dir: Path) -> None:
    path = data_dir / "sla" / "calendars.yml"
    edit(path, 'mon: ["09:00-18:00"]', 'mon: ["09:00-18:00"]\n      mon: ["10:00-18:00"]')
    assert "duplicate key 'mon'" in load_error(data_dir).reason
    path.write_text("calendars: [unclosed", encoding="utf-8")
    assert "invalid YAML" in load_error(data_dir).reason
    path.unlink()
    assert "cannot read" in load_error(data_dir).reason


def test_explicit_next_response_overrides_the_default(data_dir: Path) -> None:
    edit(
        data_dir / "sla" / "plans.yml",
        "P1: {first_response: 1h, resolution: 8h}",
        "P1: {first_response: 1h, next_response: 2h, resolution: 8h}",
    )
    targets = SlaPolicy.load(data_dir).targets("standard", "P1")
    assert (targets.first_response, targets.next_response, targets.resolution) == (60, 120, 480)


# --- the shipped files ------------------------------------------------------------------------------


def test_the_shipped_policy_keeps_the_rules() -> None:
    """Whatever an editor sets: every plan promises something for every priority, more urgent never slower."""
    policy = SlaPolicy.load(DATA)
    assert policy.default_plan in policy.plans
    order = [Priority.P1, Priority.P2, Priority.P3, Priority.P4]
    for name, plan in policy.plans.items():
        assert set(plan.names) >= {"ru", "en"}, name
        targets = [policy.targets(name, priority) for priority in order]
        for target in targets:
            assert 0 < target.first_response <= target.resolution, name
            assert 0 < target.next_response <= target.resolution, name
        for faster, slower in itertools.pairwise(targets):
            assert faster.first_response <= slower.first_response, name
            assert faster.resolution <= slower.resolution, name
        policy.calendar_for(name)  # the plan's calendar exists


def test_the_shipped_matrix_is_total_and_monotone() -> None:
    """Every urgency × impact has a priority, and more urgency or more impact never lowers it."""
    policy = SlaPolicy.load(DATA)
    rank = {p: i for i, p in enumerate([Priority.P1, Priority.P2, Priority.P3, Priority.P4])}
    urgencies = [Urgency.LOW, Urgency.MEDIUM, Urgency.HIGH]
    impacts = [Impact.ONE, Impact.SEVERAL, Impact.MANY]
    for u, urgency in enumerate(urgencies):
        for i, impact in enumerate(impacts):
            priority = rank[Priority(policy.priority_for(urgency, impact))]
            if u + 1 < len(urgencies):
                assert rank[Priority(policy.priority_for(urgencies[u + 1], impact))] <= priority
            if i + 1 < len(impacts):
                assert rank[Priority(policy.priority_for(urgency, impacts[i + 1]))] <= priority
