"""The generated demo history: deterministic, loaded once, and the reports find something in every section."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import SessionFactory, transaction
from core.settings import ROOT
from reports import metrics
from reports.history import load_demo_history
from reports.period import Filters, Period
from sla.policy import SlaPolicy
from tests.support.databases import empty_tables

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


async def _summary(sessions: SessionFactory, sla: SlaPolicy) -> tuple[object, ...]:
    period = Period.of_days(date(2026, 10, 1), date(2026, 11, 20), MSK)
    async with transaction(sessions) as db:
        funnel = await metrics.funnel(db, period, Filters())
        sla_rows = await metrics.sla_met(db, period, Filters())
        csat = await metrics.satisfaction(db, period, Filters())
        bands = await metrics.band_counts(db, period, Filters())
        times = await metrics.human_times(db, period, Filters(), sla)
    return funnel, tuple(sla_rows), csat.distribution, tuple(bands.values()), times.first_response["all"].count


async def test_the_history_is_deterministic_loaded_once_and_fills_every_section(
    sessions: SessionFactory, engine: AsyncEngine
) -> None:
    sla = SlaPolicy.load(ROOT / "data")
    loaded = await load_demo_history(sessions, sla, MSK, weeks=3, now=NOW)
    assert loaded is not None
    assert loaded.conversations > 200
    assert await load_demo_history(sessions, sla, MSK, weeks=3, now=NOW) is None  # already there
    first = await _summary(sessions, sla)
    funnel, sla_rows, distribution, bands, responded = first
    assert isinstance(funnel, metrics.Funnel)
    assert 0 < funnel.deflected < funnel.closed
    assert funnel.handed_off > 0
    assert funnel.ticketed > 0
    assert any(r.first_response_met < r.first_response_decided for r in sla_rows)  # some breaches
    assert sum(distribution) > 0
    assert all(bands)
    assert responded > 0
    await empty_tables(engine)
    await load_demo_history(sessions, sla, MSK, weeks=3, now=NOW)
    assert await _summary(sessions, sla) == first
