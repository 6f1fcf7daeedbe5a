"""Every report metric, defined once. docs/metrics.md says the same in words; keep the two in step.

Counts, shares and groupings are SQL that runs on SQLite and PostgreSQL alike (no dialect functions but the
hour bucket and the durations' percentiles). Durations need the plan's business calendar (``sla``, pure
Python): a ticket's are computed once, when the fact becomes known, and stored on the ticket
(``tickets/durations.py``), so their median and p90 are taken in SQL on PostgreSQL (``percentile_disc``) and
from one narrow read on SQLite. Medians and p90s are by nearest rank (the value at position ceil(p·n) of the
sorted values: always a value that really occurred).

Who answered is read from the author of the message: ``operator`` messages that are not private notes.
Bot replies never count as a response.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import (
    Boolean,
    ColumnElement,
    String,
    and_,
    case,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import is_postgres
from core.models import Conversation, Customer, Direction, Message, Operator, Team
from handoff.models import Csat
from kb.models import Article, Gap
from reports.period import Filters, Period
from sla.calendar import Calendar, elapsed_business_minutes
from sla.policy import SlaPolicy
from tickets.models import SlaState, Ticket, TicketConversation, TicketStatus

NO_CHANNEL = "none"  # a ticket opened without a conversation (by an operator, by e-mail import)
BANDS = ("answer", "suggest", "unknown")
TOP = 10


# --- planning ----------------------------------------------------------------------------------------


async def _without_jit(db: AsyncSession) -> None:
    """On PostgreSQL, settings for this transaction's statements: no JIT compilation, sorts in memory.

    The report's statements scan hundreds of thousands of rows, so their estimated costs pass the JIT thresholds,
    and compiling (with inlining and optimisation) cost 0.1-0.4 s per statement at full size — more than the
    statements then saved. The durations' percentiles sort a period's tickets (10-20 MB at a million tickets),
    which the default 4 MB ``work_mem`` sends to temporary files. ``SET LOCAL`` ends with the transaction:
    other work on the connection keeps the server's settings.
    """
    if is_postgres(db):
        await db.execute(sql_text("SET LOCAL jit = off"))
        await db.execute(sql_text("SET LOCAL work_mem = '64MB'"))


# --- filters -----------------------------------------------------------------------------------------


def _ticket_channel() -> Any:
    """The channel of the ticket's first conversation, or ``none``: stored on the ticket (``Ticket.channel``)."""
    return func.coalesce(Ticket.channel, literal(NO_CHANNEL), type_=String)


def conversation_filter(period: Period | None, f: Filters) -> list[ColumnElement[bool]]:
    """Conversations opened in the period (``None``: any time) matching the filters.

    The customer's plan is asked through a subquery rather than a join, so that a report without that filter
    reads conversations (or their messages) alone.
    """
    where: list[ColumnElement[bool]] = []
    if period is not None:
        where += [Conversation.created_at >= period.start, Conversation.created_at < period.end]
    if f.channel:
        where.append(Conversation.channel == f.channel)
    if f.plan:
        where.append(Conversation.customer_id.in_(select(Customer.id).where(Customer.plan == f.plan)))
    if f.language:
        where.append(Conversation.language == f.language)
    if f.operator_id is not None:
        where.append(Conversation.assignee_id == f.operator_id)
    return where


def ticket_filter(period: Period | None, f: Filters) -> list[ColumnElement[bool]]:
    """Tickets opened in the period matching the filters (the customer's language through a subquery)."""
    where: list[ColumnElement[bool]] = []
    if period is not None:
        where += [Ticket.created_at >= period.start, Ticket.created_at < period.end]
    if f.channel:
        where.append(Ticket.channel.is_(None) if f.channel == NO_CHANNEL else Ticket.channel == f.channel)
    if f.plan:
        where.append(Ticket.plan == f.plan)
    if f.team_id is not None:
        where.append(Ticket.team_id == f.team_id)
    if f.language:
        where.append(Ticket.customer_id.in_(select(Customer.id).where(Customer.language == f.language)))
    if f.operator_id is not None:
        where.append(Ticket.assignee_id == f.operator_id)
    return where


def _conversations(*columns: Any, customer: bool = False) -> Any:
    """Conversations, joined to their customer when a column is read from it (every conversation has one)."""
    stmt = select(*columns).select_from(Conversation)
    return stmt.join(Customer, Customer.id == Conversation.customer_id) if customer else stmt


def _tickets(*columns: Any) -> Any:
    return select(*columns).select_from(Ticket)


# --- demand ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    """One count of a table: its labels and the number."""

    keys: tuple[str, ...]
    count: int


async def conversations_by_channel_plan(db: AsyncSession, period: Period, f: Filters) -> list[Cell]:
    """Conversations opened in the period, by channel × the customer's plan."""
    await _without_jit(db)
    stmt = (
        _conversations(Conversation.channel, Customer.plan, func.count(), customer=True)
        .where(*conversation_filter(period, f))
        .group_by(Conversation.channel, Customer.plan)
        .order_by(Conversation.channel, Customer.plan)
    )
    return [Cell((str(ch), plan), n) for ch, plan, n in (await db.execute(stmt)).all()]


async def tickets_by_channel_plan(db: AsyncSession, period: Period, f: Filters) -> list[Cell]:
    """Tickets opened in the period, by the channel of their first conversation × the ticket's plan."""
    await _without_jit(db)
    channel = _ticket_channel()
    stmt = (
        _tickets(channel, Ticket.plan, func.count())
        .where(*ticket_filter(period, f))
        .group_by(channel, Ticket.plan)
        .order_by(channel, Ticket.plan)
    )
    return [Cell((str(ch), plan), n) for ch, plan, n in (await db.execute(stmt)).all()]


def _hour_bucket(db: AsyncSession, column: Any) -> Any:
    """The UTC hour an instant falls in, as text; the only dialect-specific expression here."""
    if is_postgres(db):
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", column)


@dataclass(frozen=True, slots=True)
class Rhythm:
    """Conversations by local hour of day (0-23) and ISO weekday (1 = Monday), and by local day."""

    by_hour: list[int]
    by_weekday: list[int]
    by_day_channel: dict[str, dict[str, int]]


async def demand_rhythm(db: AsyncSession, period: Period, f: Filters, tz: ZoneInfo) -> Rhythm:
    """Conversations counted per UTC hour in SQL, then placed on the desk's local clock.

    Every UTC hour maps to exactly one local hour in zones with whole-hour offsets, so the counts are exact
    across DST changes: the night the clocks go back, local 02:00 collects two UTC hours.
    """
    await _without_jit(db)
    bucket = _hour_bucket(db, Conversation.created_at).label("bucket")
    stmt = (
        _conversations(bucket, Conversation.channel, func.count())
        .where(*conversation_filter(period, f))
        .group_by(bucket, Conversation.channel)
    )
    by_hour, by_weekday = [0] * 24, [0] * 7
    by_day: dict[str, dict[str, int]] = {}
    for text, channel, n in (await db.execute(stmt)).all():
        local = datetime.strptime(str(text), "%Y-%m-%d %H").replace(tzinfo=UTC).astimezone(tz)
        by_hour[local.hour] += n
        by_weekday[local.isoweekday() - 1] += n
        day = by_day.setdefault(local.date().isoformat(), {})
        day[str(channel)] = day.get(str(channel), 0) + n
    return Rhythm(by_hour, by_weekday, dict(sorted(by_day.items())))


# --- the bot -----------------------------------------------------------------------------------------


def _operator_reply(*extra: ColumnElement[bool]) -> Any:
    """Public operator messages of the conversation, spelled with literals to match ix_messages_operator_replies."""
    return (
        Message.conversation_id == Conversation.id,
        literal_column("messages.author = 'operator'", Boolean),
        literal_column("NOT messages.private", Boolean),
        *extra,
    )


def _operator_replied() -> Any:
    return exists().where(*_operator_reply())


def _has_ticket() -> Any:
    return exists().where(TicketConversation.conversation_id == Conversation.id)


def _handed_off() -> Any:
    return or_(Conversation.waiting_since.is_not(None), _operator_replied())


@dataclass(frozen=True, slots=True)
class Funnel:
    """Conversations opened in the period and how far each went; every stage is a subset of the one before."""

    conversations: int
    closed: int
    deflected: int  # closed with no handoff, no operator message and no ticket
    handed_off: int
    ticketed: int
    resolved: int  # ticketed conversations whose tickets are all resolved or closed

    @property
    def deflection(self) -> float | None:
        return None if self.closed == 0 else self.deflected / self.closed


def stage_condition(stage: str) -> ColumnElement[bool]:
    """The conversations of one funnel stage: the same condition counts them and lists them (drill-down)."""
    closed = Conversation.status == "closed"
    open_ticket = exists().where(
        TicketConversation.conversation_id == Conversation.id,
        TicketConversation.ticket_id == Ticket.id,
        Ticket.status.in_([TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING]),
    )
    conditions: dict[str, ColumnElement[bool]] = {
        "conversations": literal(True),
        "closed": closed,
        "deflected": and_(closed, ~_handed_off(), ~_has_ticket()),
        "handed_off": _handed_off(),
        "ticketed": _has_ticket(),
        "resolved": and_(_has_ticket(), ~open_ticket),
    }
    return conditions[stage]


STAGES = ("conversations", "closed", "deflected", "handed_off", "ticketed", "resolved")


async def funnel(db: AsyncSession, period: Period, f: Filters) -> Funnel:
    await _without_jit(db)
    stmt = _conversations(*(func.sum(case((stage_condition(s), 1), else_=0)) for s in STAGES)).where(
        *conversation_filter(period, f)
    )
    row = (await db.execute(stmt)).one()
    return Funnel(*(int(v or 0) for v in row))


def _inbound(period: Period, f: Filters, *columns: Any) -> Any:
    """Customers' messages of the period, through their conversation only when a filter asks for it."""
    stmt = (
        select(*columns)
        .select_from(Message)
        .where(Message.direction == Direction.INBOUND, Message.created_at >= period.start)
        .where(Message.created_at < period.end)
    )
    narrow = conversation_filter(None, f)
    if narrow:
        stmt = stmt.join(Conversation, Conversation.id == Message.conversation_id).where(*narrow)
    return stmt


@dataclass(frozen=True, slots=True)
class Questions:
    """What the period's customer messages say about the bot: bands, top intents, "Did this help?" votes."""

    bands: dict[str, int]
    intents: list[Cell]
    votes: list[ArticleVotes]


async def questions(db: AsyncSession, period: Period, f: Filters, limit: int = TOP) -> Questions:
    """:func:`band_counts`, :func:`top_intents` and :func:`article_votes` from one pass over the messages.

    The messages are grouped by (band, intent, vote payload), which leaves a few hundred rows; each figure is
    then summed from them. Ties between intents are broken by name in code-point order.
    """
    await _without_jit(db)
    band = Message.meta["band"].as_string()
    intent = Message.meta["intent"].as_string()
    payload = Message.meta["payload"].as_string()
    vote = case((payload.like("h:%"), payload))
    stmt = (
        _inbound(period, f, band, intent, vote, func.count())
        .where(or_(band.is_not(None), intent.is_not(None), payload.like("h:%")))
        .group_by(band, intent, vote)
    )
    bands: Counter[str] = Counter()
    intents: Counter[str] = Counter()
    presses: list[tuple[str, int]] = []
    for b, i, v, n in (await db.execute(stmt)).all():
        if b is not None:
            bands[str(b)] += int(n)
        if i is not None:
            intents[str(i)] += int(n)
        if v is not None:
            presses.append((str(v), int(n)))
    top = sorted(intents.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return Questions(
        {b: bands.get(b, 0) for b in BANDS}, [Cell((i,), n) for i, n in top], await _article_votes(db, presses)
    )


async def band_counts(db: AsyncSession, period: Period, f: Filters) -> dict[str, int]:
    """Questions the bot answered from the knowledge base, by band (the engine stamps it on the message)."""
    return (await questions(db, period, f)).bands


async def top_intents(db: AsyncSession, period: Period, f: Filters, limit: int = TOP) -> list[Cell]:
    """The intents customers' messages were recognised as, most frequent first."""
    return (await questions(db, period, f, limit)).intents


@dataclass(frozen=True, slots=True)
class ArticleVotes:
    article_id: int
    title: str
    helpful: int
    not_helpful: int

    @property
    def rate(self) -> float | None:
        total = self.helpful + self.not_helpful
        return None if total == 0 else self.helpful / total


async def article_votes(db: AsyncSession, period: Period, f: Filters) -> list[ArticleVotes]:
    """ "Did this help?" answers in the period, per article, most voted first.

    A vote is the customer's press of the yes/no button: an inbound message whose payload is ``h:y<id>:…``
    or ``h:n<id>:…`` (a stale press is refused by the bot but still says what the customer thought).
    """
    return (await questions(db, period, f)).votes


async def _article_votes(db: AsyncSession, presses: Sequence[tuple[str, int]]) -> list[ArticleVotes]:
    """Votes per article from (payload, times pressed) pairs."""
    votes: dict[int, list[int]] = {}
    for text, times in presses:
        parts = text.split(":")
        arg = parts[1] if len(parts) > 1 else ""
        if len(arg) > 1 and arg[0] in "yn" and arg[1:].isdigit():
            pair = votes.setdefault(int(arg[1:]), [0, 0])
            pair[0 if arg[0] == "y" else 1] += times
    if not votes:
        return []
    titles = {i: t for i, t in (await db.execute(select(Article.id, Article.title).where(Article.id.in_(votes)))).all()}
    rows = [ArticleVotes(i, titles.get(i, f"#{i}"), y, n) for i, (y, n) in votes.items()]
    return sorted(rows, key=lambda r: (-(r.helpful + r.not_helpful), r.article_id))


def helpful_rate(votes: Sequence[ArticleVotes]) -> float | None:
    yes = sum(v.helpful for v in votes)
    total = yes + sum(v.not_helpful for v in votes)
    return None if total == 0 else yes / total


async def top_gaps(db: AsyncSession, period: Period, f: Filters, limit: int = TOP) -> list[Cell]:
    """Questions the knowledge base had no confident answer for (or whose answer did not help), by text."""
    await _without_jit(db)
    where: list[ColumnElement[bool]] = [Gap.created_at >= period.start, Gap.created_at < period.end]
    if f.channel:
        where.append(Gap.channel == f.channel)
    if f.language:
        where.append(Gap.language == f.language)
    text = func.lower(Gap.text)
    stmt = select(text, func.count()).where(*where).group_by(text).order_by(func.count().desc(), text).limit(limit)
    return [Cell((str(t),), int(n)) for t, n in (await db.execute(stmt)).all()]


# --- humans ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Durations:
    """Minutes, calendar and business, of one measure over a set of tickets or conversations: how many, and
    the median and p90 of each (nearest rank; ``None`` when there is nothing to measure)."""

    count: int = 0
    median_calendar: float | None = None
    p90_calendar: float | None = None
    median_business: float | None = None
    p90_business: float | None = None

    def median(self, business: bool = False) -> float | None:
        return self.median_business if business else self.median_calendar

    def p90(self, business: bool = False) -> float | None:
        return self.p90_business if business else self.p90_calendar

    @classmethod
    def of(cls, calendar: Sequence[float], business: Sequence[float]) -> Durations:
        return cls(
            len(calendar),
            percentile(calendar, 0.5),
            percentile(calendar, 0.9),
            percentile(business, 0.5),
            percentile(business, 0.9),
        )


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest rank: the value at position ceil(p·n) (1-based) of the sorted values; None when empty."""
    if not values:
        return None
    return sorted(values)[_rank_index(len(values), p)]


def _rank_index(n: int, p: float) -> int:
    """The 0-based position of the nearest rank ceil(p·n) among ``n`` sorted values."""
    return max(1, math.ceil(p * n)) - 1


def _minutes(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds() / 60)


def _calendar(sla: SlaPolicy, plan: str) -> Calendar:
    return sla.calendar_for(plan if plan in sla.plans else sla.default_plan)


@dataclass(slots=True)
class HumanTimes:
    """First response and resolution of tickets, and the wait for a human after a handoff, by group."""

    first_response: dict[str, Durations]
    resolution: dict[str, Durations]
    handoff_wait: dict[str, Durations]


ALL = "all"


async def _ticket_durations(
    db: AsyncSession, where: list[ColumnElement[bool]]
) -> tuple[dict[str, Durations], dict[str, Durations]]:
    """Count, median and p90 of the stored first-response and resolution durations under ``all``,
    ``operator:<id>`` and ``team:<id>``: nearest rank, as :func:`percentile` defines it.

    Every resolved ticket has a first response, so the answered tickets carry both measures; unresolved ones
    are not counted for resolution. PostgreSQL takes the ranks in SQL (:func:`_ticket_durations_pg`), SQLite
    here from one narrow read (:func:`_ticket_durations_fetched`); the same tests hold both to the same answers.
    """
    if is_postgres(db):
        return await _ticket_durations_pg(db, where)
    return await _ticket_durations_fetched(db, where)


async def _ticket_durations_fetched(
    db: AsyncSession, where: list[ColumnElement[bool]]
) -> tuple[dict[str, Durations], dict[str, Durations]]:
    """What :func:`_ticket_durations` computes, for SQLite: the answered tickets' four stored durations are read
    in one narrow pass and their nearest ranks taken here (:func:`percentile`).

    SQLite has no ordered-set aggregates, and numbering each measure with a window function per grouping
    sorted the period's tickets twelve times inside SQLite — tens of seconds at a million tickets.
    """
    stmt = _tickets(
        Ticket.assignee_id,
        Ticket.team_id,
        Ticket.first_response_minutes,
        Ticket.first_response_business_minutes,
        Ticket.resolution_minutes,
        Ticket.resolution_business_minutes,
    ).where(*where, Ticket.first_response_minutes.is_not(None))
    # Core execution (no ORM row objects) and one float matrix: NULL becomes NaN; integers and floats stay exact.
    rows = (await (await db.connection()).execute(stmt)).all()
    if not rows:
        return {}, {}
    table = np.array([tuple(row) for row in rows], dtype=np.float64)  # plain tuples: numpy probes Rows by key
    groups: dict[str, Any] = {ALL: table}
    for column, prefix in ((0, "operator"), (1, "team")):
        keys = table[:, column]
        for key in np.unique(keys[~np.isnan(keys)]):
            groups[f"{prefix}:{int(key)}"] = table[keys == key]
    first_response: dict[str, Durations] = {}
    resolution: dict[str, Durations] = {}
    for name, members in groups.items():
        fc, fb, rc, rb = (_known(members[:, i]) for i in (2, 3, 4, 5))
        first_response[name] = Durations(len(fc), *_ranks(fc), *_ranks(fb))
        if len(rc):
            resolution[name] = Durations(len(rc), *_ranks(rc), *_ranks(rb))
    return first_response, resolution


def _known(values: Any) -> Any:
    return values[~np.isnan(values)]


def _ranks(values: Any) -> tuple[float, float]:
    """Median and p90 by nearest rank, as :func:`percentile`: the values at positions ceil(n/2) and ceil(9n/10)
    of the sorted values, found by partial sorting."""
    ranks = [_rank_index(len(values), p) for p in (0.5, 0.9)]
    chosen = np.partition(values, ranks)[ranks]
    return float(chosen[0]), float(chosen[1])


async def _ticket_durations_pg(
    db: AsyncSession, where: list[ColumnElement[bool]]
) -> tuple[dict[str, Durations], dict[str, Durations]]:
    """What :func:`_ticket_durations` computes, in one pass on PostgreSQL: ``percentile_disc`` is nearest rank
    (the first value whose cumulative share reaches p, i.e. position ceil(p·n)), and GROUPING SETS give ``all``,
    each operator and each team from one scan. Each measure is sorted once per group, for both of its ranks;
    NULLs (unresolved tickets) are left out by the aggregate itself, as ``count(resolution_minutes)`` does."""
    ranks: Any = literal_column("ARRAY[0.5, 0.9]::float8[]")
    measures = (
        Ticket.first_response_minutes,
        Ticket.first_response_business_minutes,
        Ticket.resolution_minutes,
        Ticket.resolution_business_minutes,
    )
    stmt = _tickets(
        func.grouping(Ticket.assignee_id, Ticket.team_id),
        Ticket.assignee_id,
        Ticket.team_id,
        func.count(),
        func.count(Ticket.resolution_minutes),
        *(func.percentile_disc(ranks).within_group(m) for m in measures),
    ).where(*where, Ticket.first_response_minutes.is_not(None))
    stmt = stmt.group_by(literal_column("GROUPING SETS ((), (tickets.assignee_id), (tickets.team_id))"))
    first_response: dict[str, Durations] = {}
    resolution: dict[str, Durations] = {}
    for grouping, operator_id, team_id, answered, resolved, fc, fb, rc, rb in (await db.execute(stmt)).all():
        # GROUPING() has a bit set for each column left out of the row's set: 3 = all, 1 = operator, 2 = team.
        if not answered:
            continue  # the grand total's row comes back even when no ticket was answered
        if grouping == 3:
            name = ALL
        elif grouping == 1 and operator_id is not None:
            name = f"operator:{operator_id}"
        elif grouping == 2 and team_id is not None:
            name = f"team:{team_id}"
        else:
            continue  # the tickets nobody is assigned to, or in no team: part of "all" only
        (fc50, fc90), (fb50, fb90) = (_pair(fc), _pair(fb))
        first_response[name] = Durations(int(answered), fc50, fc90, fb50, fb90)
        if resolved:
            (rc50, rc90), (rb50, rb90) = (_pair(rc), _pair(rb))
            resolution[name] = Durations(int(resolved), rc50, rc90, rb50, rb90)
    return first_response, resolution


def _pair(values: Sequence[Any] | None) -> tuple[float | None, float | None]:
    if values is None:
        return None, None
    return tuple(None if v is None else float(v) for v in values)  # type: ignore[return-value]


async def human_times(db: AsyncSession, period: Period, f: Filters, sla: SlaPolicy) -> HumanTimes:
    """Durations grouped under ``all``, ``operator:<id>`` and ``team:<id>``.

    - ticket first response: opening → the first reply to the customer (``first_responded_at``: an operator's
      public reply or the resolution notice; the bot never sets it);
    - ticket resolution: opening → resolution; in business time the pauses while the ticket waited for the
      customer do not count, in calendar time they do (it is what the customer lived through);
    - handoff wait: the conversation handed to a human → the first public operator message after it.
    Business time is the calendar of the ticket's plan (the customer's plan for conversations). Tickets'
    durations are stored when the facts become known (``tickets/durations.py``); the handoff wait is measured
    here, on the conversations of the period that were handed off.
    """
    await _without_jit(db)
    first_response, resolution = await _ticket_durations(db, ticket_filter(period, f))
    return HumanTimes(first_response, resolution, await _handoff_waits(db, period, f, sla))


async def _handoff_waits(db: AsyncSession, period: Period, f: Filters, sla: SlaPolicy) -> dict[str, Durations]:
    after_handoff = Message.created_at >= Conversation.waiting_since
    first_reply = select(func.min(Message.created_at)).where(*_operator_reply(after_handoff)).scalar_subquery()
    replier = (
        select(Message.operator_id)
        .where(*_operator_reply(after_handoff))
        .order_by(Message.created_at, Message.id)
        .limit(1)
        .scalar_subquery()
    )
    stmt = _conversations(Customer.plan, Conversation.waiting_since, first_reply, replier, customer=True).where(
        *conversation_filter(period, f), Conversation.waiting_since.is_not(None)
    )
    groups: dict[str, tuple[list[float], list[float]]] = {}
    calendars: dict[str, Calendar] = {}
    for plan, since, replied, operator_id in (await db.execute(stmt)).all():
        if replied is None:
            continue
        replied = replied if replied.tzinfo else replied.replace(tzinfo=UTC)
        calendar = calendars.get(plan) or calendars.setdefault(plan, _calendar(sla, plan))
        business = elapsed_business_minutes(calendar, since, replied)
        for key in (ALL, *([f"operator:{operator_id}"] if operator_id else [])):
            minutes = groups.setdefault(key, ([], []))
            minutes[0].append(_minutes(since, replied))
            minutes[1].append(business)
    return {key: Durations.of(cal, bus) for key, (cal, bus) in groups.items()}


# --- SLA ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlaRow:
    """Tickets of one plan × priority opened in the period and how their targets went.

    A target counts once it is decided: met (answered or resolved without a breach) or breached (even if
    still open). Tickets still running inside their target are not counted either way.
    """

    plan: str
    priority: str
    tickets: int
    first_response_met: int
    first_response_decided: int
    resolution_met: int
    resolution_decided: int

    @property
    def first_response_share(self) -> float | None:
        return None if self.first_response_decided == 0 else self.first_response_met / self.first_response_decided

    @property
    def resolution_share(self) -> float | None:
        return None if self.resolution_decided == 0 else self.resolution_met / self.resolution_decided


async def sla_met(db: AsyncSession, period: Period, f: Filters) -> list[SlaRow]:
    await _without_jit(db)
    breached = SlaState.BREACHED
    fr_met = and_(Ticket.first_responded_at.is_not(None), Ticket.first_response_state != breached)
    fr_decided = or_(Ticket.first_responded_at.is_not(None), Ticket.first_response_state == breached)
    res_met = and_(Ticket.resolved_at.is_not(None), Ticket.resolution_state != breached)
    res_decided = or_(Ticket.resolved_at.is_not(None), Ticket.resolution_state == breached)

    def total(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    stmt = (
        _tickets(
            Ticket.plan,
            Ticket.sla_priority,
            func.count(),
            total(fr_met),
            total(fr_decided),
            total(res_met),
            total(res_decided),
        )
        .where(*ticket_filter(period, f))
        .group_by(Ticket.plan, Ticket.sla_priority)
        .order_by(Ticket.plan, Ticket.sla_priority)
    )
    return [
        SlaRow(plan, str(priority), *(int(v or 0) for v in rest))
        for plan, priority, *rest in (await db.execute(stmt)).all()
    ]


@dataclass(frozen=True, slots=True)
class OpenTicket:
    id: int
    subject: str
    plan: str
    priority: str
    sla_state: str
    resolution_due: datetime | None
    assignee: str | None


def _open_tickets() -> Any:
    """The columns an :class:`OpenTicket` row is made of, with the assignee's name."""
    return _tickets(
        Ticket.id,
        Ticket.subject,
        Ticket.plan,
        Ticket.priority,
        Ticket.sla_state,
        Ticket.resolution_due,
        Operator.name,
    ).outerjoin(Operator, Operator.id == Ticket.assignee_id)


async def sla_watchlist(db: AsyncSession, f: Filters, state: SlaState, limit: int = 200) -> list[OpenTicket]:
    """Open tickets (any opening date) now at risk or breached, soonest due first."""
    await _without_jit(db)
    stmt = (
        _open_tickets()
        .where(
            *ticket_filter(None, f),
            Ticket.status.in_([TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING]),
            Ticket.sla_state == state,
        )
        .order_by(Ticket.resolution_due.asc().nulls_last(), Ticket.id)
        .limit(limit)
    )
    return [
        OpenTicket(i, s, p, str(pr), str(st), due, name)
        for i, s, p, pr, st, due, name in (await db.execute(stmt)).all()
    ]


# --- satisfaction ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rating:
    rating: int
    comment: str | None
    channel: str
    plan: str
    operator_id: int | None
    conversation_id: int | None
    ticket_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Satisfaction:
    ratings: list[Rating]
    rateable: int  # conversations closed after a handoff + tickets resolved, in the period

    @property
    def average(self) -> float | None:
        return None if not self.ratings else sum(r.rating for r in self.ratings) / len(self.ratings)

    @property
    def distribution(self) -> list[int]:
        counts = Counter(r.rating for r in self.ratings)
        return [counts.get(i, 0) for i in range(1, 6)]

    @property
    def response_rate(self) -> float | None:
        return None if self.rateable == 0 else min(1.0, len(self.ratings) / self.rateable)

    def by(self, attribute: str) -> dict[str, tuple[int, float]]:
        """Count and average rating per value of ``channel``, ``plan`` or ``operator_id``."""
        groups: dict[str, list[int]] = {}
        for r in self.ratings:
            groups.setdefault(str(getattr(r, attribute)), []).append(r.rating)
        return {k: (len(v), sum(v) / len(v)) for k, v in sorted(groups.items())}


async def satisfaction(db: AsyncSession, period: Period, f: Filters) -> Satisfaction:
    """Ratings given in the period, of conversations (their channel, assignee) or tickets (channel, assignee)."""
    await _without_jit(db)
    conversation_ratings = (
        _conversations(
            Csat.rating,
            Csat.comment,
            Conversation.channel,
            Customer.plan,
            Conversation.assignee_id,
            Csat.conversation_id,
            Csat.ticket_id,
            Csat.created_at,
            customer=True,
        )
        .join(Csat, Csat.conversation_id == Conversation.id)
        .where(Csat.created_at >= period.start, Csat.created_at < period.end, *conversation_filter(None, f))
    )
    ticket_ratings = (
        _tickets(
            Csat.rating,
            Csat.comment,
            _ticket_channel(),
            Ticket.plan,
            Ticket.assignee_id,
            Csat.conversation_id,
            Csat.ticket_id,
            Csat.created_at,
        )
        .join(Csat, Csat.ticket_id == Ticket.id)
        .where(
            Csat.created_at >= period.start,
            Csat.created_at < period.end,
            Csat.conversation_id.is_(None),
            *ticket_filter(None, f),
        )
    )
    ratings = [
        Rating(rating, comment, str(channel), plan, operator_id, conversation_id, ticket_id, at)
        for q in (conversation_ratings, ticket_ratings)
        for rating, comment, channel, plan, operator_id, conversation_id, ticket_id, at in (await db.execute(q)).all()
    ]
    closed = await db.scalar(
        _conversations(func.count()).where(
            Conversation.closed_at >= period.start,
            Conversation.closed_at < period.end,
            _handed_off(),
            *conversation_filter(None, f),
        )
    )
    resolved = await db.scalar(
        _tickets(func.count()).where(
            Ticket.resolved_at >= period.start, Ticket.resolved_at < period.end, *ticket_filter(None, f)
        )
    )
    ratings.sort(key=lambda r: r.created_at, reverse=True)
    return Satisfaction(ratings, int(closed or 0) + int(resolved or 0))


# --- names for the filters and labels ----------------------------------------------------------------


async def names(db: AsyncSession) -> tuple[dict[int, str], dict[int, str]]:
    """Operators and teams by id, for labels and for checking filter values."""
    operators = {i: n for i, n in (await db.execute(select(Operator.id, Operator.name))).all()}
    teams = {i: n for i, n in (await db.execute(select(Team.id, Team.name))).all()}
    return operators, teams


# --- drill-down: the rows behind a figure -----------------------------------------------------------

DRILL_LIMIT = 500


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: int
    created_at: datetime
    channel: str
    plan: str
    language: str
    status: str
    customer: str


async def drill_conversations(
    db: AsyncSession, period: Period, f: Filters, stage: str = "conversations", limit: int = DRILL_LIMIT
) -> list[ConversationRow]:
    """The conversations counted in a funnel stage or a channel × plan cell (the filters narrow to one cell)."""
    await _without_jit(db)
    stmt = (
        _conversations(
            Conversation.id,
            Conversation.created_at,
            Conversation.channel,
            Customer.plan,
            Conversation.language,
            Conversation.status,
            Customer.name,
            customer=True,
        )
        .where(*conversation_filter(period, f), stage_condition(stage))
        .order_by(Conversation.created_at.desc(), Conversation.id.desc())
        .limit(limit)
    )
    return [
        ConversationRow(i, at, str(ch), p, lang, str(st), name)
        for i, at, ch, p, lang, st, name in (await db.execute(stmt)).all()
    ]


TICKET_OUTCOMES = (
    "all",
    "first_response_met",
    "first_response_breached",
    "resolution_met",
    "resolution_breached",
    "resolved",
)


def outcome_condition(outcome: str) -> ColumnElement[bool]:
    breached = SlaState.BREACHED
    conditions: dict[str, ColumnElement[bool]] = {
        "all": literal(True),
        "first_response_met": and_(Ticket.first_responded_at.is_not(None), Ticket.first_response_state != breached),
        "first_response_breached": Ticket.first_response_state == breached,
        "resolution_met": and_(Ticket.resolved_at.is_not(None), Ticket.resolution_state != breached),
        "resolution_breached": Ticket.resolution_state == breached,
        "resolved": Ticket.resolved_at.is_not(None),
    }
    return conditions[outcome]


async def drill_tickets(
    db: AsyncSession,
    period: Period,
    f: Filters,
    *,
    priority: str | None = None,
    outcome: str = "all",
    limit: int = DRILL_LIMIT,
) -> list[OpenTicket]:
    """The tickets behind a channel × plan count, an SLA share (plan × priority × outcome) or a duration."""
    await _without_jit(db)
    stmt = (
        _open_tickets()
        .where(*ticket_filter(period, f), outcome_condition(outcome))
        .order_by(Ticket.id.desc())
        .limit(limit)
    )
    if priority:
        stmt = stmt.where(Ticket.sla_priority == priority)
    return [
        OpenTicket(i, s, p, str(pr), str(st), due, name)
        for i, s, p, pr, st, due, name in (await db.execute(stmt)).all()
    ]
