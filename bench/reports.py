"""Report query times at size, on PostgreSQL and SQLite.

    .venv/bin/python bench/reports.py [--conversations 100000] [--messages-per 10] [--tickets-per 1.0]
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
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text

from bench._stats import percentiles
from core.db import create_engine, execute_autocommit, session_factory
from core.migrate import upgrade
from core.models import Conversation, Customer, Message, Operator, Team
from core.settings import ROOT
from handoff.models import Csat
from kb.models import Gap
from reports import metrics
from reports.period import Filters, Period
from reports.tables import build_report
from sla.policy import SlaPolicy
from tickets.models import SlaState, Ticket, TicketConversation

PG_ADMIN = os.environ.get("FRONTLINE_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
TZ = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CHUNK = 5000


async def load(
    url: str, conversations: int, messages_per: int, tickets_per: float, days: int, seed: int
) -> dict[str, int]:
    """Synthetic rows, inserted in chunks with executemany; ids are assigned here so rows can refer to each other."""
    rng = random.Random(seed)
    engine = create_engine(url)
    sizes = {"customers": 0, "conversations": 0, "messages": 0, "tickets": 0, "ratings": 0}
    customers = max(100, conversations // 10)
    bands = ["answer", "answer", "suggest", "unknown"]
    intents = ["ask_question", "report_problem", "greet", "ticket_status", "talk_to_human"]
    states = [SlaState.OK] * 8 + [SlaState.AT_RISK, SlaState.BREACHED]

    async def put(model: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            async with engine.begin() as conn:
                await conn.execute(insert(model.__table__), rows)

    async with engine.begin() as conn:
        await conn.execute(
            insert(Team.__table__), [{"id": 1, "key": "first-line", "name": "First line", "created_at": NOW}]
        )
        await conn.execute(
            insert(Operator.__table__),
            [
                {
                    "id": i,
                    "login": f"op{i}",
                    "name": f"Operator {i}",
                    "password_hash": "!",
                    "role": "operator",
                    "active": True,
                    "language": "ru",
                    "failed_logins": 0,
                    "created_at": NOW,
                }
                for i in range(1, 51)
            ],
        )
    plans = ["standard", "premium"]
    batch: list[dict[str, Any]] = []
    for i in range(1, customers + 1):
        batch.append(
            {
                "id": i,
                "name": f"c{i}",
                "language": "ru" if i % 5 else "en",
                "timezone": "Europe/Moscow",
                "plan": plans[i % 4 == 0],
                "created_at": NOW,
            }
        )
        if len(batch) >= CHUNK:
            await put(Customer, batch)
            batch = []
    await put(Customer, batch)
    sizes["customers"] = customers
    conv_rows: list[dict[str, Any]] = []
    msg_rows: list[dict[str, Any]] = []
    ticket_rows: list[dict[str, Any]] = []
    link_rows: list[dict[str, Any]] = []
    csat_rows: list[dict[str, Any]] = []
    gap_rows: list[dict[str, Any]] = []
    message_id = ticket_id = 0
    tickets_target = int(conversations * tickets_per)

    async def flush(final: bool = False) -> None:
        nonlocal conv_rows, msg_rows, ticket_rows, link_rows, csat_rows, gap_rows
        if final or len(msg_rows) >= CHUNK * 4:
            await put(Conversation, conv_rows)
            await put(Message, msg_rows)
            await put(Ticket, ticket_rows)
            await put(TicketConversation, link_rows)
            await put(Csat, csat_rows)
            await put(Gap, gap_rows)
            conv_rows, msg_rows, ticket_rows, link_rows, csat_rows, gap_rows = [], [], [], [], [], []

    for c in range(1, conversations + 1):
        opened = NOW - timedelta(seconds=rng.randint(60, days * 86400))
        customer = rng.randint(1, customers)
        channel = "telegram" if rng.random() < 0.6 else "web"
        handed = rng.random() < 0.3
        waiting = opened + timedelta(minutes=1) if handed else None
        conv_rows.append(
            {
                "id": c,
                "customer_id": customer,
                "channel": channel,
                "chat_id": f"b{c}",
                "status": "closed",
                "assignee_id": rng.randint(1, 50) if handed else None,
                "language": "ru",
                "dialog_state": {},
                "last_seq": 0,
                "waiting_since": waiting,
                "first_reply_at": None,
                "closed_at": opened + timedelta(hours=1),
                "created_at": opened,
                "updated_at": opened,
            }
        )
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
                {
                    "id": message_id,
                    "conversation_id": c,
                    "seq": seq,
                    "direction": "in" if inbound else "out",
                    "author": author,
                    "operator_id": conv_rows[-1]["assignee_id"] if author == "operator" else None,
                    "channel": channel,
                    "chat_id": f"b{c}",
                    "channel_message_id": f"{message_id}" if inbound else None,
                    "text": "…",
                    "private": False,
                    "attachments": [],
                    "buttons": [],
                    "meta": meta,
                    "delivery_state": "received" if inbound else "sent",
                    "attempts": 0,
                    "created_at": at,
                    "delivered_at": None if inbound else at,
                    "handled_at": at if inbound else None,
                }
            )
        # Tickets: as many as asked (1.0 per conversation by default), spread over the conversations.
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
            ticket_rows.append(
                {
                    "id": ticket_id,
                    "customer_id": customer,
                    "subject": "s",
                    "description": "d",
                    "category": None,
                    "team_id": 1,
                    "assignee_id": rng.randint(1, 50),
                    "urgency": "medium",
                    "impact": "one",
                    "priority": rng.choice(["P1", "P2", "P3", "P4"]),
                    "sla_priority": rng.choice(["P1", "P2", "P3", "P4"]),
                    "status": "resolved" if resolved else "open",
                    "plan": plans[customer % 4 == 0],
                    "sla_started_at": opened,
                    "first_responded_at": responded,
                    "first_response_state": fr,
                    "next_response_state": "ok",
                    "resolution_state": res,
                    "sla_state": max(fr, res, key=states.index),
                    "pauses": pauses,
                    "escalation_level": 0,
                    "resolved_at": resolved,
                    "created_at": opened,
                    "updated_at": opened,
                    "resolution_due": opened + timedelta(days=2),
                }
            )
            if rng.random() < 0.7:
                link_rows.append({"ticket_id": ticket_id, "conversation_id": c, "created_at": opened})
            if resolved and rng.random() < 0.2:
                csat_rows.append(
                    {
                        "rating": rng.randint(1, 5),
                        "comment": "ok" if rng.random() < 0.3 else None,
                        "ticket_id": ticket_id,
                        "conversation_id": None,
                        "created_at": resolved,
                        "updated_at": resolved,
                    }
                )
        if handed and rng.random() < 0.3:
            csat_rows.append(
                {
                    "rating": rng.randint(1, 5),
                    "comment": None,
                    "conversation_id": c,
                    "ticket_id": None,
                    "created_at": opened + timedelta(hours=1),
                    "updated_at": opened,
                }
            )
        if rng.random() < 0.05:
            gap_rows.append(
                {
                    "text": f"question {rng.randint(1, 300)}",
                    "language": "ru",
                    "channel": channel,
                    "reason": "unknown",
                    "status": "open",
                    "created_at": opened,
                }
            )
        await flush()
    await flush(final=True)
    sizes.update(conversations=conversations, messages=message_id, tickets=ticket_id)
    async with engine.begin() as conn:
        sizes["ratings"] = int((await conn.execute(text("SELECT count(*) FROM csat"))).scalar_one())
        if engine.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE"))
    await engine.dispose()
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
    parser.add_argument("--tickets-per", type=float, default=1.0)
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
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as folder:
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
                name = None
            else:
                name = f"frontline_bench_{uuid.uuid4().hex[:8]}"
                await execute_autocommit(PG_ADMIN, f'CREATE DATABASE "{name}"')
                url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
            try:
                await asyncio.to_thread(upgrade, url)
                started = time.perf_counter()
                sizes = await load(url, args.conversations, args.messages_per, args.tickets_per, args.days, args.seed)
                load_seconds = round(time.perf_counter() - started, 1)
                timings = await time_sections(url, sla, args.runs, args.days)
                result["backends"][backend] = {"rows": sizes, "load_seconds": load_seconds, "ms": timings}
            finally:
                if name:
                    await execute_autocommit(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
