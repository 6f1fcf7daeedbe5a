"""The report as tables: the page shows them, the CSV export writes them, and both come from here.

A cell may carry a drill-down link (the conversations or tickets behind the number). Column titles are
template keys (``reports.col.<name>``): the page and the CSV speak the reader's language.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from reports import metrics
from reports.period import Filters, Period
from sla.policy import SlaPolicy
from tickets.models import SlaState, format_number


@dataclass(frozen=True, slots=True)
class Cell:
    value: Any
    link: str | None = None


@dataclass(slots=True)
class Table:
    name: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        self.rows.append([c if isinstance(c, Cell) else Cell(c) for c in cells])


@dataclass(slots=True)
class Report:
    period: Period
    filters: Filters
    funnel: metrics.Funnel
    rhythm: metrics.Rhythm
    bands: dict[str, int]
    helpful: float | None
    csat: metrics.Satisfaction
    times: metrics.HumanTimes
    tables: dict[str, Table]

    @property
    def empty(self) -> bool:
        return self.funnel.conversations == 0 and not any(
            self.tables[n].rows for n in ("tickets_by_channel_plan", "sla", "csat_comments")
        )


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


class Links:
    """Drill-down URLs carrying the report's period and filters, narrowed to one cell."""

    def __init__(self, period: Period, filters: Filters) -> None:
        self.base = {"from": period.first_day.isoformat(), "to": period.last_day.isoformat(), **filters.query()}

    def conversations(self, **narrow: str) -> str:
        return "/reports/conversations?" + urlencode({**self.base, **narrow})

    def tickets(self, **narrow: str) -> str:
        return "/reports/tickets?" + urlencode({**self.base, **narrow})


def _who(key: str, operators: dict[int, str], teams: dict[int, str]) -> tuple[str, str, dict[str, str]]:
    """(kind, name, drill filter) of a duration group key: ``all``, ``operator:<id>`` or ``team:<id>``."""
    if key == metrics.ALL:
        return "all", "", {}
    kind, _, raw = key.partition(":")
    ident = int(raw)
    names = operators if kind == "operator" else teams
    return kind, names.get(ident, f"#{ident}"), {"operator" if kind == "operator" else "team": raw}


# Between sections the read transaction is ended: on SQLite every transaction takes the write lock up front
# (core.db), and a long report must not keep the bot's writes waiting for its whole duration.


async def build_report(
    db: AsyncSession, period: Period, f: Filters, sla: SlaPolicy, tz: ZoneInfo
) -> Report:  # one report, one pass over its sections
    links = Links(period, f)
    operators, teams = await metrics.names(db)
    tables: dict[str, Table] = {}

    def table(name: str, *columns: str) -> Table:
        tables[name] = Table(name, list(columns))
        return tables[name]

    # Demand
    t = table("conversations_by_channel_plan", "channel", "plan", "conversations")
    for c in await metrics.conversations_by_channel_plan(db, period, f):
        t.add(c.keys[0], c.keys[1], Cell(c.count, links.conversations(channel=c.keys[0], plan=c.keys[1])))
    t = table("tickets_by_channel_plan", "channel", "plan", "tickets")
    for c in await metrics.tickets_by_channel_plan(db, period, f):
        t.add(c.keys[0], c.keys[1], Cell(c.count, links.tickets(channel=c.keys[0], plan=c.keys[1])))
    rhythm = await metrics.demand_rhythm(db, period, f, tz)
    t = table("demand_by_hour", "hour", "conversations")
    for hour, n in enumerate(rhythm.by_hour):
        t.add(f"{hour:02d}:00", n)
    t = table("demand_by_weekday", "weekday", "conversations")
    for day, n in enumerate(rhythm.by_weekday, start=1):
        t.add(Cell(day), n)

    await db.commit()
    # The bot
    funnel = await metrics.funnel(db, period, f)
    t = table("funnel", "stage", "conversations", "share")
    for stage in metrics.STAGES:
        n = getattr(funnel, stage)
        t.add(stage, Cell(n, links.conversations(stage=stage)), _share(n, funnel.conversations))
    asked = await metrics.questions(db, period, f)
    bands = asked.bands
    t = table("bands", "band", "questions", "share")
    for band, n in bands.items():
        t.add(band, n, _share(n, sum(bands.values())))
    t = table("intents", "intent", "messages")
    for c in asked.intents:
        t.add(c.keys[0], c.count)
    t = table("gaps", "question", "times")
    for c in await metrics.top_gaps(db, period, f):
        t.add(c.keys[0], c.count)
    votes = asked.votes
    t = table("articles", "article", "helpful", "not_helpful", "helpful_rate")
    for v in votes:
        t.add(v.title, v.helpful, v.not_helpful, v.rate)

    await db.commit()
    # Humans
    times = await metrics.human_times(db, period, f, sla)
    t = table(
        "human_times",
        "measure",
        "group",
        "name",
        "count",
        "median_business",
        "p90_business",
        "median_calendar",
        "p90_calendar",
    )
    for measure, groups in (
        ("first_response", times.first_response),
        ("resolution", times.resolution),
        ("handoff_wait", times.handoff_wait),
    ):
        for key in sorted(groups, key=lambda k: (k != metrics.ALL, k)):
            d = groups[key]
            kind, name, narrow = _who(key, operators, teams)
            target = (
                links.tickets(**narrow)
                if measure != "handoff_wait"
                else links.conversations(stage="handed_off", **narrow)
            )
            t.add(
                measure,
                kind,
                name,
                Cell(d.count, target),
                d.median(business=True),
                d.p90(business=True),
                d.median(),
                d.p90(),
            )

    await db.commit()
    # SLA
    t = table("sla", "plan", "priority", "tickets", "first_response_met", "resolution_met")
    for row in await metrics.sla_met(db, period, f):
        cell = {"plan": row.plan, "priority": row.priority}
        t.add(
            row.plan,
            row.priority,
            Cell(row.tickets, links.tickets(**cell)),
            Cell(row.first_response_share, links.tickets(**cell, outcome="first_response_met")),
            Cell(row.resolution_share, links.tickets(**cell, outcome="resolution_met")),
        )
    for state in (SlaState.AT_RISK, SlaState.BREACHED):
        t = table(state.value, "ticket", "subject", "plan", "priority", "due", "assignee")
        for o in await metrics.sla_watchlist(db, f, state):
            t.add(
                Cell(format_number(o.id), f"/inbox/tickets/{format_number(o.id)}"),
                o.subject,
                o.plan,
                o.priority,
                o.resolution_due,
                o.assignee or "",
            )

    await db.commit()
    # Satisfaction
    csat = await metrics.satisfaction(db, period, f)
    t = table("csat_distribution", "rating", "ratings")
    for stars, n in enumerate(csat.distribution, start=1):
        t.add(stars, n)
    for attribute, name in (
        ("channel", "csat_by_channel"),
        ("plan", "csat_by_plan"),
        ("operator_id", "csat_by_operator"),
    ):
        t = table(name, "value", "ratings", "average")
        for value, (n, average) in csat.by(attribute).items():
            label = operators.get(int(value), value) if attribute == "operator_id" and value.isdigit() else value
            t.add(label, n, average)
    t = table("csat_comments", "date", "rating", "channel", "subject", "comment")
    for rating in csat.ratings:
        if rating.comment:
            subject = (
                Cell(format_number(rating.ticket_id), f"/inbox/tickets/{format_number(rating.ticket_id)}")
                if rating.ticket_id
                else Cell(f"#{rating.conversation_id}", f"/inbox/conversations/{rating.conversation_id}")
            )
            t.add(rating.created_at, rating.rating, rating.channel, subject, rating.comment)

    helpful = metrics.helpful_rate(votes)
    return Report(period, f, funnel, rhythm, bands, helpful, csat, times, tables)


def plain(value: Any) -> str:
    """A cell as CSV text: numbers as they are (shares as fractions), instants in ISO 8601, None as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def to_csv(table: Table, title: Callable[[str], str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([title(c) for c in table.columns])
    for row in table.rows:
        writer.writerow([_safe(plain(c.value)) for c in row])
    return out.getvalue()


def _safe(text: str) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula; customers write the comments.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
