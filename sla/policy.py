"""SLA policy: calendars, plans and the priority matrix, loaded from ``data/sla/*.yml``.

Every loading problem surfaces as :class:`DataFileError` naming the file and the dotted key, so a
bad edit to a YAML file fails at start-up with a pointer to the line to fix, never later inside
an SLA computation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import (
    BeforeValidator,
    Field,
    PlainValidator,
    model_validator,
)

from core.datafiles import DataFileError, Strict, read_yaml, validate
from sla.calendar import Calendar, Pause, WorkInterval, check_intervals, due_with_pauses

__all__ = [
    "CALENDARS_FILE",
    "PLANS_FILE",
    "PRIORITY_FILE",
    "DueTimes",
    "Impact",
    "Plan",
    "PlanIncludes",
    "Priority",
    "SlaPolicy",
    "Targets",
    "UnknownPlanError",
    "Urgency",
    "load_calendars",
    "load_plans",
    "load_priority_matrix",
    "parse_minutes",
]

CALENDARS_FILE = "calendars.yml"
PLANS_FILE = "plans.yml"
PRIORITY_FILE = "priority.yml"

_DURATION = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*$")


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class Urgency(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Impact(StrEnum):
    ONE = "one"
    SEVERAL = "several"
    MANY = "many"


class UnknownPlanError(KeyError):
    """A plan name that is not defined in plans.yml."""

    def __init__(self, plan: str) -> None:
        super().__init__(plan)
        self.plan = plan

    def __str__(self) -> str:
        return f"unknown SLA plan {self.plan!r}"


def parse_minutes(value: object) -> int:
    """Minutes from an int or a ``"1h"``, ``"15m"``, ``"1h30m"`` string.

    Days are refused on purpose: whether "1d" means 24 hours or one 9-hour business day is exactly
    the ambiguity that SLA disputes are made of.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected minutes or a duration like '1h', got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is not None and (match.group(1) or match.group(2)):
            return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)
    raise ValueError(f"expected minutes or a duration like '1h', '15m', '1h30m', got {value!r}")


def _timezone(value: object) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an IANA time zone name, got {value!r}")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {value!r}") from exc


def _intervals(value: object) -> tuple[WorkInterval, ...]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list of 'HH:MM-HH:MM' intervals, got {value!r}")
    parsed = []
    for item in value:
        if isinstance(item, WorkInterval):
            parsed.append(item)
        elif isinstance(item, str):
            parsed.append(WorkInterval.parse(item))
        else:
            raise ValueError(f"expected 'HH:MM-HH:MM', got {item!r}")
    return check_intervals(parsed)


Minutes = Annotated[int, BeforeValidator(parse_minutes), Field(gt=0)]
Intervals = Annotated[tuple[WorkInterval, ...], PlainValidator(_intervals)]
TimeZone = Annotated[ZoneInfo, PlainValidator(_timezone)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)


class HolidaySource(Strict):
    country: str | None = None
    subdiv: str | None = None
    dates: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _known_country(self) -> HolidaySource:
        if self.country is not None:
            try:
                holidays.country_holidays(self.country, subdiv=self.subdiv)
            except NotImplementedError as exc:
                raise ValueError(f"unknown holidays country/subdivision: {exc}") from exc
        elif self.subdiv is not None:
            raise ValueError("subdiv needs a country")
        return self


class CalendarSpec(Strict):
    timezone: TimeZone
    always_open: bool = False
    week: dict[Weekday, Intervals] = Field(default_factory=dict)
    holidays: HolidaySource = HolidaySource()
    overrides: dict[date, Intervals] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_working_time(self) -> CalendarSpec:
        if self.always_open and (self.week or self.overrides or self.holidays != HolidaySource()):
            raise ValueError("always_open calendars take no week, holidays or overrides")
        if not self.always_open and not any(self.week.values()):
            raise ValueError("no working intervals in week (set always_open: true for a 24/7 calendar)")
        return self

    def build(self, name: str) -> Calendar:
        if self.always_open:
            return Calendar.twenty_four_seven(name, self.timezone)
        return Calendar(
            name=name,
            tz=self.timezone,
            weekly=tuple(self.week.get(day) or () for day in _WEEKDAYS),
            holiday_country=self.holidays.country,
            holiday_subdiv=self.holidays.subdiv,
            extra_holidays=frozenset(self.holidays.dates),
            overrides=self.overrides,
        )


class _CalendarsFile(Strict):
    calendars: dict[str, CalendarSpec]


class Targets(Strict):
    """Per-priority targets in minutes of the plan's business time."""

    first_response: Minutes
    next_response: Minutes
    resolution: Minutes

    @model_validator(mode="before")
    @classmethod
    def _next_defaults_to_first(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("next_response") is None and "first_response" in data:
            return {**data, "next_response": data["first_response"]}
        return data


Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Limit = Annotated[int, Field(gt=0)] | Literal["unlimited"]


class PlanIncludes(Strict):
    """What a plan offers besides its targets, for the service catalog; its hours are its calendar's.

    Keys name texts in the ru/en templates (``catalog.channel.<key>``, ``catalog.limit.<key>``,
    ``catalog.extra.<key>``): the catalog refuses, at start-up, a key that has no text.
    """

    channels: tuple[Key, ...] = Field(min_length=1)
    limits: dict[Key, Limit] = Field(default_factory=dict)  # e.g. consultations_per_month: 5 | unlimited
    extras: tuple[Key, ...] = ()


class Plan(Strict):
    names: dict[str, str]
    calendar: str
    targets: dict[Priority, Targets]
    includes: PlanIncludes | None = None


class _PlansFile(Strict):
    default_plan: str
    plans: dict[str, Plan]


class _PriorityFile(Strict):
    matrix: dict[Urgency, dict[Impact, Priority]]


@dataclass(frozen=True, slots=True)
class DueTimes:
    """Due instants in the plan calendar's zone; ``None`` while the clock is stopped by an open pause."""

    first_response: datetime | None
    next_response: datetime | None
    resolution: datetime | None


def load_calendars(path: Path) -> dict[str, Calendar]:
    parsed = validate(path, _CalendarsFile, read_yaml(path))
    calendars = {}
    for name, spec in parsed.calendars.items():
        try:
            calendars[name] = spec.build(name)
        except ValueError as exc:
            raise DataFileError(path, f"calendars.{name}", str(exc)) from exc
    return calendars


def load_plans(path: Path, calendars: Mapping[str, Calendar]) -> tuple[str, dict[str, Plan]]:
    """The default plan name and the plans, with calendar references and priorities checked."""
    parsed = validate(path, _PlansFile, read_yaml(path))
    for name, plan in parsed.plans.items():
        if plan.calendar not in calendars:
            raise DataFileError(path, f"plans.{name}.calendar", f"unknown calendar {plan.calendar!r}")
        for priority in Priority:
            if priority not in plan.targets:
                raise DataFileError(path, f"plans.{name}.targets.{priority}", "missing priority")
    if parsed.default_plan not in parsed.plans:
        raise DataFileError(path, "default_plan", f"unknown plan {parsed.default_plan!r}")
    return parsed.default_plan, dict(parsed.plans)


def load_priority_matrix(path: Path) -> dict[Urgency, dict[Impact, Priority]]:
    parsed = validate(path, _PriorityFile, read_yaml(path))
    for urgency in Urgency:
        row = parsed.matrix.get(urgency)
        if row is None:
            raise DataFileError(path, f"matrix.{urgency}", "missing urgency")
        for impact in Impact:
            if impact not in row:
                raise DataFileError(path, f"matrix.{urgency}.{impact}", "missing priority")
    return {urgency: dict(row) for urgency, row in parsed.matrix.items()}


@dataclass(frozen=True)
class SlaPolicy:
    calendars: Mapping[str, Calendar]
    plans: Mapping[str, Plan]
    default_plan: str
    matrix: Mapping[Urgency, Mapping[Impact, Priority]]

    @classmethod
    def load(cls, data_dir: Path) -> SlaPolicy:
        """Load ``<data_dir>/sla/{calendars,plans,priority}.yml``; ``data_dir`` is the project's ``data``."""
        sla_dir = data_dir / "sla"
        calendars = load_calendars(sla_dir / CALENDARS_FILE)
        default_plan, plans = load_plans(sla_dir / PLANS_FILE, calendars)
        matrix = load_priority_matrix(sla_dir / PRIORITY_FILE)
        return cls(calendars=calendars, plans=plans, default_plan=default_plan, matrix=matrix)

    def plan(self, name: str) -> Plan:
        try:
            return self.plans[name]
        except KeyError:
            raise UnknownPlanError(name) from None

    def calendar_for(self, plan: str) -> Calendar:
        return self.calendars[self.plan(plan).calendar]

    def targets(self, plan: str, priority: Priority | str) -> Targets:
        return self.plan(plan).targets[Priority(priority)]

    def due_times(
        self,
        plan: str,
        priority: Priority | str,
        start: datetime,
        pauses: Sequence[Pause] = (),
    ) -> DueTimes:
        """All three due instants counted from ``start`` with the clock stopped during ``pauses``.

        ``next_response`` is counted from ``start`` too: pass the customer's latest message as
        ``start`` (or call :func:`due_with_pauses` with ``targets().next_response``) to get the due
        time of the next reply.
        """
        targets = self.targets(plan, priority)
        calendar = self.calendar_for(plan)
        return DueTimes(
            first_response=due_with_pauses(calendar, start, targets.first_response, pauses),
            next_response=due_with_pauses(calendar, start, targets.next_response, pauses),
            resolution=due_with_pauses(calendar, start, targets.resolution, pauses),
        )

    def priority_for(self, urgency: Urgency | str, impact: Impact | str) -> Priority:
        return self.matrix[Urgency(urgency)][Impact(impact)]
