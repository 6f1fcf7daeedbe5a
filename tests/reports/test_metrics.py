"""Every report metric on the hand-made history of tests/reports/dataset.py, answers worked out by hand there."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.db import SessionFactory, transaction
from reports import metrics
from reports.period import Filters, Period
from sla.policy import SlaPolicy
from tests.reports.dataset import History, load_history, write_policy
from tickets.models import SlaState, Ticket

BERLIN = ZoneInfo("Europe/Berlin")
PERIOD = Period.of_days(date(2026, 10, 19), date(2026, 11, 1), BERLIN)
ALL = Filters()


@pytest.fixture
def policy(tmp_path: Path) -> SlaPolicy:
    return write_policy(tmp_path)


@pytest.fixture
async def history(sessions: SessionFactory) -> History:
    return await load_history(sessions)


def test_the_period_is_whole_local_days_across_the_dst_change() -> None:
    # 14 days, one of them 25 hours long: 337 hours from Monday 00:00 CEST to Monday 00:00 CET.
    assert (PERIOD.end - PERIOD.start).total_seconds() == 337 * 3600


async def test_demand_by_channel_and_plan(sessions: SessionFactory, history: History) -> None:
    async with transaction(sessions) as db:
        conversations = await metrics.conversations_by_channel_plan(db, PERIOD, ALL)
        tickets = await metrics.tickets_by_channel_plan(db, PERIOD, ALL)
    assert [(c.keys, c.count) for c in conversations] == [
        (("telegram", "care"), 1),
        (("telegram", "office"), 3),
        (("web", "office"), 2),
    ]
    assert [(c.keys, c.count) for c in tickets] == [
        (("none", "office"), 1),
        (("telegram", "care"), 1),
        (("telegram", "office"), 1),
        (("web", "office"), 1),
    ]


async def test_hour_of_day_follows_the_local_clock_across_the_dst_change(
    sessions: SessionFactory, history: History
) -> None:
    async with transaction(sessions) as db:
        rhythm = await metrics.demand_rhythm(db, PERIOD, ALL, BERLIN)
    # 02:30 CEST and 02:30 CET are two different UTC hours and both local 02:00.
    assert rhythm.by_hour[2] == 2
    assert {h: n for h, n in enumerate(rhythm.by_hour) if n} == {2: 2, 8: 1, 10: 1, 16: 1, 21: 1}
    assert rhythm.by_weekday == [0, 1, 1, 0, 1, 1, 2]  # Mon..Sun
    assert rhythm.by_day_channel["2026-10-25"] == {"telegram": 2}


async def test_funnel_and_deflection(sessions: SessionFactory, history: History) -> None:
    async with transaction(sessions) as db:
        funnel = await metrics.funnel(db, PERIOD, ALL)
    assert (funnel.conversations, funnel.closed, funnel.deflected) == (6, 4, 2)
    assert (funnel.handed_off, funnel.ticketed, funnel.resolved) == (2, 3, 2)
    assert funnel.deflection == 0.5


async def test_bands_intents_votes_and_gaps(sessions: SessionFactory, history: History) -> None:
    async with transaction(sessions) as db:
        bands = await metrics.band_counts(db, PERIOD, ALL)
        intents = await metrics.top_intents(db, PERIOD, ALL)
        votes = await metrics.article_votes(db, PERIOD, ALL)
        gaps = await metrics.top_gaps(db, PERIOD, ALL)
        web_gaps = await metrics.top_gaps(db, PERIOD, Filters(channel="telegram"))
    assert bands == {"answer": 2, "suggest": 1, "unknown": 1}
    assert [(c.keys[0], c.count) for c in intents] == [("ask_question", 3), ("report_problem", 1)]
    assert [(v.article_id, v.helpful, v.not_helpful) for v in votes] == [
        (history.articles["a1"], 1, 1),
        (history.articles["a2"], 1, 0),
    ]
    assert metrics.helpful_rate(votes) == pytest.approx(2 / 3)
    assert [(c.keys[0], c.count) for c in gaps] == [("how to change plan", 2), ("fax", 1)]
    assert [(c.keys[0], c.count) for c in web_gaps] == [("fax", 1)]


async def stored_durations(sessions: SessionFactory, history: History) -> dict[str, tuple[Any, ...]]:
    async with transaction(sessions) as db:
        rows = (
            await db.execute(
                select(
                    Ticket.id,
                    Ticket.first_response_minutes,
                    Ticket.first_response_business_minutes,
                    Ticket.resolution_minutes,
                    Ticket.resolution_business_minutes,
                )
            )
        ).all()
    keys = {v: k for k, v in history.tickets.items()}
    return {keys[i]: tuple(rest) for i, *rest in rows}


async def test_first_response_and_resolution_in_business_and_calendar_time(
    sessions: SessionFactory, history: History, policy: SlaPolicy
) -> None:
    stored = await stored_durations(sessions, history)
    # T1 3960 (66 real hours over the weekend the clocks went back), T2 30, T3 390 (6.5 h on a 5.5 h wall clock).
    # T1's resolution: the pause while waiting for the customer and the holiday are not business time; T2's
    # crosses the holiday. T3 is not resolved, T4 not even answered.
    assert stored["T1"] == (3960, 120, 8400, 540)
    assert stored["T2"] == (30, 30, 3180, 840)
    assert stored["T3"] == (390, 390, None, None)
    assert stored["T4"] == (None, None, None, None)
    async with transaction(sessions) as db:
        times = await metrics.human_times(db, PERIOD, ALL, policy)
    first = times.first_response["all"]
    assert first.count == 3
    assert (first.median(), first.p90()) == (390, 3960)
    assert (first.median(business=True), first.p90(business=True)) == (120, 390)
    resolution = times.resolution["all"]
    assert resolution.count == 2
    assert (resolution.median(), resolution.p90()) == (3180, 8400)
    assert (resolution.median(business=True), resolution.p90(business=True)) == (540, 840)
    op1 = times.first_response[f"operator:{history.ops['op1']}"]
    assert (op1.count, op1.median(), op1.p90()) == (1, 3960, 3960)
    assert times.first_response[f"team:{history.teams['first-line']}"].count == 3
    wait = times.handoff_wait["all"]
    # C1: the bot's instant reply is not a response: the wait runs to op1's Monday message (3910 min, 70 business).
    # C2: the private note is not a response either: 5 minutes, all before 09:00 (0 business).
    assert wait.count == 2
    assert (wait.median(), wait.p90()) == (5, 3910)
    assert (wait.median(business=True), wait.p90(business=True)) == (0, 70)
    op2 = times.handoff_wait[f"operator:{history.ops['op2']}"]
    assert (op2.count, op2.median()) == (1, 5)


async def test_sla_met_per_plan_and_priority_and_the_watchlists(sessions: SessionFactory, history: History) -> None:
    async with transaction(sessions) as db:
        rows = await metrics.sla_met(db, PERIOD, ALL)
        at_risk = await metrics.sla_watchlist(db, ALL, SlaState.AT_RISK)
        breached = await metrics.sla_watchlist(db, ALL, SlaState.BREACHED)
    table = {(r.plan, r.priority): r for r in rows}
    assert set(table) == {("care", "P2"), ("office", "P1"), ("office", "P3")}
    care, p1, p3 = table["care", "P2"], table["office", "P1"], table["office", "P3"]
    assert (care.first_response_share, care.resolution_share) == (0.0, None)  # breached; resolution still running
    assert (p1.first_response_share, p1.resolution_share) == (1.0, 0.0)
    # T4 has not been answered and is not breached yet: it is not counted either way.
    assert (p3.tickets, p3.first_response_decided, p3.first_response_share, p3.resolution_share) == (2, 1, 1.0, 1.0)
    assert [t.id for t in at_risk] == [history.tickets["T4"]]
    assert [t.id for t in breached] == [history.tickets["T3"]]  # T2 breached too but is resolved


async def test_satisfaction(sessions: SessionFactory, history: History) -> None:
    async with transaction(sessions) as db:
        csat = await metrics.satisfaction(db, PERIOD, ALL)
    assert csat.average == pytest.approx(11 / 3)
    assert csat.distribution == [0, 1, 0, 1, 1]
    # Rateable: C1 and C2 (closed after a handoff) and T1, T2 (resolved).
    assert csat.response_rate == 0.75
    assert csat.by("channel") == {"telegram": (1, 5.0), "web": (2, 3.0)}
    assert csat.by("operator_id")[str(history.ops["op2"])] == (2, 3.0)
    assert [r.comment for r in csat.ratings if r.comment] == ["<b>долго</b>", "спасибо"]


async def test_filters_narrow_every_figure(sessions: SessionFactory, history: History, policy: SlaPolicy) -> None:
    web = Filters(channel="web")
    care = Filters(plan="care")
    op1 = Filters(operator_id=history.ops["op1"])
    async with transaction(sessions) as db:
        assert [c.count for c in await metrics.conversations_by_channel_plan(db, PERIOD, web)] == [2]
        assert [c.keys for c in await metrics.tickets_by_channel_plan(db, PERIOD, web)] == [("web", "office")]
        assert (await metrics.funnel(db, PERIOD, care)).conversations == 1
        assert [r.plan for r in await metrics.sla_met(db, PERIOD, care)] == ["care"]
        assert (await metrics.band_counts(db, PERIOD, web)) == {"answer": 0, "suggest": 0, "unknown": 0}
        assert (await metrics.human_times(db, PERIOD, op1, policy)).first_response["all"].median() == 3960
        assert len((await metrics.satisfaction(db, PERIOD, Filters(language="en"))).ratings) == 2


async def test_an_empty_period_has_no_figures_and_no_division_by_zero(
    sessions: SessionFactory, history: History, policy: SlaPolicy
) -> None:
    empty = Period.of_days(date(2025, 1, 1), date(2025, 1, 31), BERLIN)
    async with transaction(sessions) as db:
        funnel = await metrics.funnel(db, empty, ALL)
        times = await metrics.human_times(db, empty, ALL, policy)
        csat = await metrics.satisfaction(db, empty, ALL)
        votes = await metrics.article_votes(db, empty, ALL)
        rows = await metrics.sla_met(db, empty, ALL)
    assert (funnel.conversations, funnel.deflection) == (0, None)
    assert times.first_response == {}
    assert (csat.average, csat.response_rate, csat.distribution) == (None, None, [0] * 5)
    assert (votes, metrics.helpful_rate(votes), rows) == ([], None, [])


def test_percentile_is_nearest_rank() -> None:
    assert metrics.percentile([], 0.5) is None
    assert metrics.percentile([7], 0.9) == 7
    assert metrics.percentile([4, 1, 3, 2], 0.5) == 2
    assert metrics.percentile(list(range(1, 11)), 0.9) == 9
