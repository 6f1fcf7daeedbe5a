"""Report query times at size, on PostgreSQL and SQLite.

    .venv/bin/python bench/reports.py [--conversations 100000] [--messages-per 10] [--tickets-per 10]
                                      [--runs 5] [--days 90] [--backends sqlite,postgresql]

Bulk-loads a synthetic history (customers, conversations, messages stamped with intent/band/votes, tickets with
SLA states and pauses, ratings, gaps) into a scratch SQLite file and a scratch PostgreSQL database (created and
dropped here), then times every section of the report — each metric function of ``reports/metrics.py`` and the
whole page's build — ``--runs`` times over a 30-day period and over the whole history. Prints one JSON object
with p50/p95 in milliseconds per section and the sizes loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._seed import bulk_loader, scratch_pg, seed_staff
from bench._stats import percentiles
from core.db import create_engine, session_factory
from core.migrate import upgrade
from core.settings import ROOT
from reports import metrics
from reports.period import Filters, Period
from reports.tables import build_report
from sla.policy import SlaPolicy
from tickets.durations import business_minutes, calendar_minutes, plan_calendar
from tickets.models import SlaState

TZ = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TABLES = ["customers", "conversations", "messages", "tickets", "ticket_conversations", "csat", "kb_gaps"]
CONVERSATION_COLUMNS = [
    "id", "customer_id", "channel", "chat_id", "status", "assignee_id", "language", "dialog_state", "last_seq",
    "waiting_since", "first_reply_at", "closed_at", "created_at", "updated_at",
]  # fmt: skip
MESSAGE_COLUMNS = [
    "id", "conversation_id", "seq", "direction", "author", "operator_id", "channel", "chat_id", "channel_message_id",
    "text", "private", "attachments", "buttons", "meta", "delivery_state", "attempts", "created_at", "delivered_at",
    "handled_at",
]  # fmt: skip
TICKET_COLUMNS = [
    "id", "customer_id", "subject", "description", "team_id", "assignee_id", "urgency", "impact", "priority",
    "sla_priority", "status", "plan", "sla_started_at", "first_responded_at", "first_response_state",
    "next_response_state", "resolution_state", "sla_state", "pauses", "escalation_level", "resolved_at",
    "created_at", "updated_at", "resolution_due", "first_response_minutes", "first_response_business_minutes",
    "resolution_minutes", "resolution_business_minutes", "channel",
]  # fmt: skip
CSAT_COLUMNS = ["rating", "comment", "ticket_id", "conversation_id", "created_at", "updated_at"]
GAP_COLUMNS = ["text", "language", "channel", "reason", "status", "created_at"]


async def load(
    url: str, sla: SlaPolicy, conversations: int, messages_per: int, tickets_per: float, days: int, seed: int
) -> dict[str, int]:
    """Synthetic rows through the shared bulk loader; ids are assigned here so rows can refer to each other.

    Each ticket's durations are stored as the ticket service stores them (``tickets.durations``), with the
    plan's calendar from ``data/sla``.
    """
    rng = random.Random(seed)
    customers = max(100, conversations // 10)
    bands = ["answer", "answer", "suggest", "unknown"]
    intents = ["ask_question", "report_problem", "greet", "ticket_status", "talk_to_human"]
    states = [SlaState.OK.value] * 8 + [SlaState.AT_RISK.value, SlaState.BREACHED.value]
    plans = ["standard", "premium"]
    calendars = {plan: plan_calendar(sla, plan) for plan in plans}
    sizes = {"customers": customers, "conversations": conversations, "messages": 0, "tickets": 0, "ratings": 0}
    conv_rows: list[tuple[Any, ...]] = []
    msg_rows: list[tuple[Any, ...]] = []
    ticket_rows: list[tuple[Any, ...]] = []
    link_rows: list[tuple[Any, ...]] = []
    csat_rows: list[tuple[Any, ...]] = []
    gap_rows: list[tuple[Any, ...]] = []
    message_id = ticket_id = 0
    tickets_target = int(conversations * tickets_per)

    async with bulk_loader(url, TABLES) as loader:
        await seed_staff(loader, NOW)
        await loader.copy(
            "customers",
            ["id", "name", "language", "timezone", "plan", "created_at"],
            (
                (i, f"c{i}", "ru" if i % 5 else "en", "Europe/Moscow", plans[i % 4 == 0], NOW)
                for i in range(1, customers + 1)
            ),
        )

        async def flush(final: bool = False) -> None:
            nonlocal conv_rows, msg_rows, ticket_rows, link_rows, csat_rows, gap_rows
            if final or len(msg_rows) >= 100_000 or len(ticket_rows) >= 50_000:
                await loader.copy("conversations", CONVERSATION_COLUMNS, conv_rows)
                await loader.copy("messages", MESSAGE_COLUMNS, msg_rows)
                await loader.copy("tickets", TICKET_COLUMNS, ticket_rows)
                await loader.copy("ticket_conversations", ["ticket_id", "conversation_id", "created_at"], link_rows)
                sizes["ratings"] += await loader.copy("csat", CSAT_COLUMNS, csat_rows)
                await loader.copy("kb_gaps", GAP_COLUMNS, gap_rows)
                conv_rows, msg_rows, ticket_rows, link_rows, csat_rows, gap_rows = [], [], [], [], [], []

        for c in range(1, conversations + 1):
            opened = NOW - timedelta(seconds=rng.randint(60, days * 86400))
            customer = rng.randint(1, customers)
            plan = plans[customer % 4 == 0]
            channel = "telegram" if rng.random() < 0.6 else "web"
            handed = rng.random() < 0.3
            waiting = opened + timedelta(minutes=1) if handed else None
            assignee = rng.randint(1, 50) if handed else None
            conv_rows.append(
                (
                    c, customer, channel, f"b{c}", "closed", assignee, "ru", {}, 0, waiting, None,
                    opened + timedelta(hours=1), opened, opened,
                )
            )  # fmt: skip
            for seq in range(1, messages_per + 1):
                message_id += 1
                inbound = seq % 2 == 1
                at = opened + timedelta(minutes=seq * rng.randint(1, 20))
                meta: dict[str, Any] = {}
                author = "customer" if inbound else "bot"
                if inbound:
                    meta = {"intent": rng.choice(intents), "band": rng.choice(bands)}
                    if seq == 3 and rng.random() < 0.3:
                        meta = {"payload": f"h:{rng.choice('yn')}{rng.randint(1, 60)}:x"}
                elif handed and seq >= 4:
                    author = "operator"
                msg_rows.append(
                    (
                        message_id, c, seq, "in" if inbound else "out", author,
                        assignee if author == "operator" else None, channel, f"b{c}",
                        f"{message_id}" if inbound else None, "…", False, [], [], meta,
                        "received" if inbound else "sent", 0, at, None if inbound else at, at if inbound else None,
                    )
                )  # fmt: skip
            # Tickets: as many as asked (``--tickets-per`` per conversation), spread over the conversations.
            while ticket_id < tickets_target * c / conversations:
                ticket_id += 1
                responded = opened + timedelta(minutes=rng.randint(5, 2000))
                resolved = responded + timedelta(minutes=rng.randint(10, 5000)) if rng.random() < 0.85 else None
                fr, res = rng.choice(states), rng.choice(states)
                pauses = (
                    [[(responded + timedelta(hours=1)).isoformat(), (responded + timedelta(hours=5)).isoformat()]]
                    if rng.random() < 0.2
                    else []
                )
                calendar = calendars[plan]
                fr_minutes = calendar_minutes(opened, responded), business_minutes(calendar, opened, responded, pauses)
                res_minutes = (
                    (calendar_minutes(opened, resolved), business_minutes(calendar, opened, resolved, pauses))
                    if resolved
                    else (None, None)
                )
                ticket_rows.append(
                    (
                        ticket_id, customer, "s", "d", 1, rng.randint(1, 50), "medium", "one",
                        rng.choice(["P1", "P2", "P3", "P4"]), rng.choice(["P1", "P2", "P3", "P4"]),
                        "resolved" if resolved else "open", plan, opened, responded, fr, "ok", res,
                        max(fr, res, key=states.index), pauses, 0, resolved, opened, opened,
                        opened + timedelta(days=2), *fr_minutes, *res_minutes,
                    )
                )  # fmt: skip
                linked = rng.random() < 0.7
                # The channel of the ticket's first conversation, as the link's trigger would set it (the rows
                # are stored with it, so the trigger finds nothing to change).
                ticket_rows[-1] = (*ticket_rows[-1], channel if linked else None)
                if linked:
                    link_rows.append((ticket_id, c, opened))
                if resolved and rng.random() < 0.2:
                    comment = "ok" if rng.random() < 0.3 else None
                    csat_rows.append((rng.randint(1, 5), comment, ticket_id, None, resolved, resolved))
            if handed and rng.random() < 0.3:
                csat_rows.append((rng.randint(1, 5), None, None, c, opened + timedelta(hours=1), opened))
            if rng.random() < 0.05:
                gap_rows.append((f"question {rng.randint(1, 300)}", "ru", channel, "unknown", "open", opened))
            await flush()
        await flush(final=True)
    sizes.update(messages=message_id, tickets=ticket_id)
    return sizes


async def time_sections(url: str, sla: SlaPolicy, runs: int, days: int) -> dict[str, Any]:
    engine = create_engine(url)
    factory = session_factory(engine)
    last = NOW.astimezone(TZ).date()
    periods = {
        "30_days": Period.of_days(last - timedelta(days=29), last, TZ),
        "whole": Period.of_days(last - timedelta(days=days), last, TZ),
    }
    f = Filters()
    sections: dict[str, Callable[[Any, Period], Awaitable[Any]]] = {
        "demand_channel_plan": lambda db, p: metrics.conversations_by_channel_plan(db, p, f),
        "tickets_channel_plan": lambda db, p: metrics.tickets_by_channel_plan(db, p, f),
        "demand_rhythm": lambda db, p: metrics.demand_rhythm(db, p, f, TZ),
        "funnel": lambda db, p: metrics.funnel(db, p, f),
        "bands": lambda db, p: metrics.band_counts(db, p, f),
        "intents": lambda db, p: metrics.top_intents(db, p, f),
        "votes": lambda db, p: metrics.article_votes(db, p, f),
        "questions": lambda db, p: metrics.questions(db, p, f),
        "gaps": lambda db, p: metrics.top_gaps(db, p, f),
        "human_times": lambda db, p: metrics.human_times(db, p, f, sla),
        "sla_met": lambda db, p: metrics.sla_met(db, p, f),
        "sla_watchlists": lambda db, p: metrics.sla_watchlist(db, f, SlaState.BREACHED),
        "satisfaction": lambda db, p: metrics.satisfaction(db, p, f),
        "whole_page": lambda db, p: build_report(db, p, f, sla, TZ),
    }
    out: dict[str, Any] = {}
    for pname, period in periods.items():
        out[pname] = {}
        for name, call in sections.items():
            times = []
            for _ in range(runs):
                async with factory() as db:
                    started = time.perf_counter()
                    await call(db, period)
                    times.append(time.perf_counter() - started)
            out[pname][name] = percentiles(times, (50, 95), scale=1000)
    await engine.dispose()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages-per", type=int, default=10)
    parser.add_argument("--tickets-per", type=float, default=10.0)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    sla = SlaPolicy.load(ROOT / "data")
    result: dict[str, Any] = {
        "bench": "reports",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "args": vars(args),
        "backends": {},
    }

    async def run(url: str) -> dict[str, Any]:
        await asyncio.to_thread(upgrade, url)
        started = time.perf_counter()
        sizes = await load(url, sla, args.conversations, args.messages_per, args.tickets_per, args.days, args.seed)
        load_seconds = round(time.perf_counter() - started, 1)
        timings = await time_sections(url, sla, args.runs, args.days)
        return {"rows": sizes, "load_seconds": load_seconds, "ms": timings}

    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                result["backends"][backend] = await run(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}")
        else:
            result["backends"][backend] = await scratch_pg(run)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
