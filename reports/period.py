"""The period and filters a report is asked for, read from the query string and checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.errors import InvalidInput
from core.models import Channel

MAX_DAYS = 3700  # a ten-year period (and its leap days) is allowed; anything longer is a typo
DEFAULT_DAYS = 28


@dataclass(frozen=True, slots=True)
class Period:
    """Half-open ``[start, end)`` in UTC, built from whole local days of the desk's time zone."""

    start: datetime
    end: datetime
    first_day: date
    last_day: date

    @classmethod
    def of_days(cls, first: date, last: date, tz: ZoneInfo) -> Period:
        # Local midnights: a day with a DST change is 23 or 25 hours long, as the wall clock says.
        start = datetime.combine(first, time(0), tz).astimezone(UTC)
        end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
        return cls(start, end, first, last)


@dataclass(frozen=True, slots=True)
class Filters:
    """Narrowing of every figure; ``None`` means "all". Team applies to tickets (conversations have none)."""

    channel: str | None = None
    plan: str | None = None
    team_id: int | None = None
    language: str | None = None
    operator_id: int | None = None

    def query(self) -> dict[str, str]:
        pairs = {
            "channel": self.channel,
            "plan": self.plan,
            "team": None if self.team_id is None else str(self.team_id),
            "language": self.language,
            "operator": None if self.operator_id is None else str(self.operator_id),
        }
        return {k: v for k, v in pairs.items() if v is not None}


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a date like 2026-03-01", field=name) from None


def _int(value: str, name: str) -> int:
    if not value.isdigit() or len(value) > 9:
        raise InvalidInput(f"{name} must be a number", field=name)
    return int(value)


def read_period(query: dict[str, str], tz: ZoneInfo, today: date) -> Period:
    """``from`` and ``to`` (inclusive local days); by default the last four weeks up to today."""
    last = _day(query["to"], "to") if query.get("to") else today
    first = _day(query["from"], "from") if query.get("from") else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidInput("the period starts after it ends", field="from")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(f"the period is longer than {MAX_DAYS} days", field="from")
    return Period.of_days(first, last, tz)


def read_filters(query: dict[str, str], plans: set[str], teams: set[int], operators: set[int]) -> Filters:
    """Known values only: a filter naming an unknown channel, plan, team or operator is a 400, not an empty page."""
    channel = query.get("channel") or None
    if channel is not None and channel not in {c.value for c in Channel} | {"none"}:
        raise InvalidInput(f"unknown channel {channel!r}", field="channel")
    plan = query.get("plan") or None
    if plan is not None and plan not in plans:
        raise InvalidInput(f"unknown plan {plan!r}", field="plan")
    language = query.get("language") or None
    if language is not None and language not in ("ru", "en"):
        raise InvalidInput(f"unknown language {language!r}", field="language")
    team_id = _int(query["team"], "team") if query.get("team") else None
    if team_id is not None and team_id not in teams:
        raise InvalidInput(f"unknown team {team_id}", field="team")
    operator_id = _int(query["operator"], "operator") if query.get("operator") else None
    if operator_id is not None and operator_id not in operators:
        raise InvalidInput(f"unknown operator {operator_id}", field="operator")
    return Filters(channel, plan, team_id, language, operator_id)
