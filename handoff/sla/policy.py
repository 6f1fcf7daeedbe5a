"""SLA policy: calendars, plans and the priority matrix, loaded from ``data/sla/*.yml``.

Every loading problem surfaces as :class:`SlaConfigError` naming the file and the dotted key, so a
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
from typing import Annotated, Any, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)

from handoff.sla.calendar import Calendar, Pause, WorkInterval, check_intervals, due_with_pauses

__all__ = [
    "CALENDARS_FILE",
    "PLANS_FILE",
    "PRIORITY_FILE",
    "DueTimes",
    "Impact",
    "Plan",
    "Priority",
    "SlaConfig",
    "SlaConfigError",
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

_M = TypeVar("_M", bound=BaseModel)
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


class SlaConfigError(ValueError):
    """A bad SLA configuration file; ``file`` and ``key`` point at the offending entry."""

    def __init__(self, file: Path, key: str, reason: str) -> None:
        super().__init__(f"{file}: {key or '<root>'}: {reason}")
        self.file = file
        self.key = key
        self.reason = reason


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


class _Strict(BaseModel):
    # Unknown keys are typos until proven otherwise.
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class HolidaySource(_Strict):
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


class CalendarSpec(_Strict):
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


class _CalendarsFile(_Strict):
    calendars: dict[str, CalendarSpec]


class Targets(_Strict):
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


class Plan(_Strict):
    names: dict[str, str]
    calendar: str
    targets: dict[Priority, Targets]


class _PlansFile(_Strict):
    default_plan: str
    plans: dict[str, Plan]


class _PriorityFile(_Strict):
    matrix: dict[Urgency, dict[Impact, Priority]]


@dataclass(frozen=True, slots=True)
class DueTimes:
    """Due instants in the plan calendar's zone; ``None`` while the clock is stopped by an open pause."""

    first_response: datetime | None
    next_response: datetime | None
    resolution: datetime | None


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of silently keeping the last one."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except OSError as exc:
        raise SlaConfigError(path, "", f"cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise SlaConfigError(path, "", f"invalid YAML: {exc}") from exc


def _validate(path: Path, model: type[_M], data: Any) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        # Pydantic prefixes our own ValueError messages; the file and key already say what failed.
        reason = first["msg"].removeprefix("Value error, ")
        if exc.error_count() > 1:
            reason += f" (+{exc.error_count() - 1} more)"
        raise SlaConfigError(path, key, reason) from exc


def load_calendars(path: Path) -> dict[str, Calendar]:
    parsed = _validate(path, _CalendarsFile, _read_yaml(path))
    calendars = {}
    for name, spec in parsed.calendars.items():
        try:
            calendars[name] = spec.build(name)
        except ValueError as exc:
            raise SlaConfigError(path, f"calendars.{name}", str(exc)) from exc
    return calendars


def load_plans(path: Path, calendars: Mapping[str, Calendar]) -> tuple[str, dict[str, Plan]]:
    """The default plan name and the plans, with calendar references and priorities checked."""
    parsed = _validate(path, _PlansFile, _read_yaml(path))
    for name, plan in parsed.plans.items():
        if plan.calendar not in calendars:
            raise SlaConfigError(path, f"plans.{name}.calendar", f"unknown calendar {plan.calendar!r}")
        for priority in Priority:
            if priority not in plan.targets:
                raise SlaConfigError(path, f"plans.{name}.targets.{priority}", "missing priority")
    if parsed.default_plan not in parsed.plans:
        raise SlaConfigError(path, "default_plan", f"unknown plan {parsed.default_plan!r}")
    return parsed.default_plan, dict(parsed.plans)


def load_priority_matrix(path: Path) -> dict[Urgency, dict[Impact, Priority]]:
    parsed = _validate(path, _PriorityFile, _read_yaml(path))
    for urgency in Urgency:
        row = parsed.matrix.get(urgency)
        if row is None:
            raise SlaConfigError(path, f"matrix.{urgency}", "missing urgency")
        for impact in Impact:
            if impact not in row:
                raise SlaConfigError(path, f"matrix.{urgency}.{impact}", "missing priority")
    return {urgency: dict(row) for urgency, row in parsed.matrix.items()}


@dataclass(frozen=True)
class SlaConfig:
    calendars: Mapping[str, Calendar]
    plans: Mapping[str, Plan]
    default_plan: str
    matrix: Mapping[Urgency, Mapping[Impact, Priority]]

    @classmethod
    def load(cls, data_dir: Path) -> SlaConfig:
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
