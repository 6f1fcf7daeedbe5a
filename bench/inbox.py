"""The operator inbox at size and live: list and conversation-view queries on PostgreSQL, and the time from a
customer message stored to its event in connected inbox tabs, across two workers and Redis.

    .venv/bin/python bench/inbox.py [--conversations 100000] [--messages 1000000] [--tickets 1000000]
                                    [--rounds 200] [--clients 50] [--events 200]

* scale: a scratch PostgreSQL database (created and dropped here) bulk-loaded with COPY — customers,
  conversations (1 % waiting, 5 % held by 50 operators, 4 % with the bot, the rest closed), messages
  (``--messages`` spread over the conversations) and tickets — then, through the code the pages run
  (:func:`handoff.queue.list_view`, :func:`handoff.queue.counts`, :func:`handoff.inbox_pages.thread_context`,
  :func:`handoff.inbox_pages.card_context`), p50/p95 of every view with and without filters, the counts, and
  the conversation view of random open conversations.
* live: two workers (two aiohttp servers in this process, each with its own Redis connection, database pool
  and live hub — only Redis joins them) on the scratch database; ``--clients`` signed-in event streams, half
  on each worker; ``--events`` customer messages stored through :func:`core.store.record_inbound` on worker A;
  the time from the stored message (before its commit) to its event read by every client, p50/p95.

Prints one JSON object. ``FRONTLINE_BENCH_PG_URL`` / ``FRONTLINE_BENCH_REDIS_URL`` point elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp import web
from sqlalchemy import event, select

from bench._seed import bulk_loader, scratch_pg, seed_staff
from bench._stats import percentiles
from bench.tickets import TICKET_COLUMNS, ticket_rows
from core.db import create_engine, session_factory, transaction
from core.events import create_bus
from core.migrate import upgrade
from core.models import Channel, Conversation, Operator
from core.operators import add_operator
from core.settings import ROOT, Settings
from core.store import CustomerDefaults, InboundMessage, record_inbound
from core.templates import Templates
from core.uow import UnitOfWork
from core.web import auth
from core.web.errors import error_middleware
from core.web.keys import BUS, NAV, PAGES, SESSIONS, SETTINGS, TEMPLATES
from core.web.pages import create_pages
from handoff import inbox_pages, queue
from tickets.desk import TicketDesk

REDIS = os.environ.get("FRONTLINE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
OPERATORS = 50
TEXTS = ["нет интернета с утра", "роутер мигает красным", "спасибо!", "когда починят?", "how do I pay the bill"]


async def load(url: str, conversations: int, messages: int, tickets: int) -> dict[str, Any]:
    await asyncio.to_thread(upgrade, url)
    rnd = random.Random(7)
    now = datetime.now(UTC)
    customers = max(1000, conversations * 4 // 5)
    out: dict[str, Any] = {"customers": customers, "conversations": conversations, "messages": messages}
    began = time.perf_counter()
    async with bulk_loader(url, ["customers", "conversations", "messages", "tickets"]) as loader:
        teams, operators = await seed_staff(loader, now, OPERATORS)
        await loader.copy(
            "customers",
            ["id", "name", "language", "timezone", "plan", "created_at"],
            [
                (i, f"Клиент {i}", "ru" if i % 5 else "en", "Europe/Moscow", "standard", now)
                for i in range(1, customers + 1)
            ],
        )
        per = max(1, messages // conversations)
        conv_rows = []
        open_pairs: set[tuple[int, str]] = set()
        for cid in range(1, conversations + 1):
            roll = rnd.random()
            status = "waiting" if roll < 0.01 else "assigned" if roll < 0.06 else "bot" if roll < 0.10 else "closed"
            created = now - timedelta(minutes=rnd.randrange(1, 180 * 24 * 60))
            customer = (cid - 1) % customers + 1
            channel = "telegram" if cid % 3 else "web"
            if status != "closed" and (customer, channel) in open_pairs:
                status = "closed"  # at most one open conversation per customer and channel
            if status != "closed":
                open_pairs.add((customer, channel))
            conv_rows.append(
                (
                    cid, customer, channel, str(customer), status,
                    rnd.choice(operators) if status == "assigned" else None,
                    "ru" if customer % 5 else "en", "{}", per,
                    created if status in ("waiting", "assigned") else None,
                    None, created if status == "closed" else None, created, created + timedelta(minutes=per),
                )
            )  # fmt: skip
        await loader.copy(
            "conversations",
            [
                "id", "customer_id", "channel", "chat_id", "status", "assignee_id", "language", "dialog_state",
                "last_seq", "waiting_since", "first_reply_at", "closed_at", "created_at", "updated_at",
            ],
            conv_rows,
        )  # fmt: skip
        message_id = 0
        batch: list[tuple[Any, ...]] = []
        for cid, _customer, channel, chat, *_rest, created, _updated in conv_rows:
            for seq in range(1, per + 1):
                message_id += 1
                inbound = seq % 2 == 1
                batch.append(
                    (
                        message_id, cid, seq, "in" if inbound else "out", "customer" if inbound else "bot", channel,
                        chat, str(message_id) if inbound else None, rnd.choice(TEXTS), False, "[]", "[]", "{}",
                        "received" if inbound else "sent", 0, created + timedelta(seconds=seq),
                    )
                )  # fmt: skip
            if len(batch) >= 100_000:
                await loader.copy("messages", MESSAGE_COLUMNS, batch)
                batch = []
        await loader.copy("messages", MESSAGE_COLUMNS, batch)
        out["messages"] = message_id
        for start in range(1, tickets + 1, 100_000):
            rows = ticket_rows(
                start, min(100_000, tickets - start + 1), now, customers, teams, operators, 1000, tickets // 10, rnd
            )
            await loader.copy("tickets", TICKET_COLUMNS, rows)
        out["tickets"] = tickets
    out["index_build_seconds"] = round(loader.finish_seconds, 1)
    out["load_seconds"] = round(time.perf_counter() - began - loader.finish_seconds, 1)
    return out


MESSAGE_COLUMNS = [
    "id", "conversation_id", "seq", "direction", "author", "channel", "chat_id", "channel_message_id", "text",
    "private", "attachments", "buttons", "meta", "delivery_state", "attempts", "created_at",
]  # fmt: skip


async def timed(rounds: int, work: Any) -> dict[str, float]:
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        await work()
        samples.append(time.perf_counter() - began)
    return percentiles(samples, scale=1000)


async def queries(url: str, rounds: int) -> dict[str, Any]:
    engine = create_engine(url)
    factory = session_factory(engine)
    templates = Templates.load(ROOT / "data" / "templates")

    def no_embedder() -> Any:
        raise RuntimeError("the inbox views never embed")

    desk = TicketDesk.load(ROOT / "data", templates, no_embedder)
    out: dict[str, Any] = {}
    rnd = random.Random(3)
    try:
        async with transaction(factory) as session:
            operator = await session.get_one(Operator, 1)
            open_ids = [
                r[0]
                for r in await session.execute(
                    select(Conversation.id).where(Conversation.status.in_(["waiting", "assigned"]))
                )
            ]
        cases = {
            "waiting": (queue.View.WAITING, queue.Filters()),
            "mine": (queue.View.MINE, queue.Filters()),
            "open": (queue.View.OPEN, queue.Filters()),
            "closed": (queue.View.CLOSED, queue.Filters()),
            "open_web_en": (queue.View.OPEN, queue.Filters(channel=Channel.WEB, language="en")),
            "closed_web": (queue.View.CLOSED, queue.Filters(channel=Channel.WEB)),
        }
        lists: dict[str, Any] = {}
        for name, (view, filters) in cases.items():

            async def listed(view: queue.View = view, filters: queue.Filters = filters) -> None:
                async with transaction(factory) as session:
                    await queue.list_view(session, view, operator.id, filters)

            lists[name] = await timed(rounds, listed)
        out["list_ms"] = lists

        async def counted() -> None:
            async with transaction(factory) as session:
                await queue.counts(session, operator.id, queue.Filters())

        out["counts_ms"] = await timed(rounds, counted)

        async def viewed() -> None:
            async with transaction(factory) as session:
                thread = await inbox_pages.thread_context(session, rnd.choice(open_ids), operator)
                await inbox_pages.card_context(session, desk, thread["conversation"].customer_id)

        out["conversation_view_ms"] = await timed(rounds, viewed)
        out["server_side_ms"] = await server_side(engine, factory, operator, desk, open_ids, cases, rnd)
    finally:
        await engine.dispose()
    return out


async def server_side(
    engine: Any, factory: Any, operator: Operator, desk: TicketDesk, open_ids: list[int], cases: Any, rnd: Any
) -> dict[str, Any]:
    """PostgreSQL's own execution time (EXPLAIN ANALYZE) of every statement a page runs, summed per page.

    On a shared, loaded machine the wall-clock figures above include waiting for a CPU; these do not include
    the Python side and show what the database itself spends. ``TIMING OFF``: per-node clocks would inflate
    statements with many sub-plan loops (the unread counts) far beyond their real cost.
    """
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    async def explain(work: Any) -> float:
        captured.clear()
        event.listen(engine.sync_engine, "before_cursor_execute", capture)
        try:
            await work()
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", capture)
        statements = list(captured)
        total = 0.0
        async with factory() as session:
            raw = await (await session.connection()).get_raw_connection()
            pg = raw.driver_connection
            for statement, parameters in statements:
                plan = await pg.fetchval("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + statement, *(parameters or ()))
                parsed = json.loads(plan) if isinstance(plan, str) else plan
                total += float(parsed[0]["Execution Time"])
        return total

    out: dict[str, Any] = {}
    for name, (view, filters) in cases.items():

        async def listed(view: queue.View = view, filters: queue.Filters = filters) -> None:
            async with transaction(factory) as session:
                await queue.list_view(session, view, operator.id, filters)
                await queue.counts(session, operator.id, filters)

        samples = [await explain(listed) / 1000 for _ in range(20)]
        out[f"list_and_counts_{name}"] = percentiles(samples, scale=1000)

    async def viewed() -> None:
        async with transaction(factory) as session:
            thread = await inbox_pages.thread_context(session, rnd.choice(open_ids), operator)
            await inbox_pages.card_context(session, desk, thread["conversation"].customer_id)

    samples = [await explain(viewed) / 1000 for _ in range(20)]
    out["conversation_view"] = percentiles(samples, scale=1000)
    return out


def worker_app(settings: Settings) -> web.Application:
    """What the event path needs of the real app: database, bus, sign-in guard, live hub, sessions and the
    inbox routes."""
    app = web.Application(
        middlewares=[error_middleware, auth.session_setup(settings.secret, 3600), auth.access_middleware]
    )
    app[SETTINGS] = settings
    app[TEMPLATES] = Templates.load(settings.data_dir / "templates")
    app[PAGES] = create_pages(inbox_pages.PAGES_DIR)
    app[NAV] = []

    async def database(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        app[SESSIONS] = session_factory(engine)
        yield
        await engine.dispose()

    async def bus(app: web.Application) -> AsyncIterator[None]:
        app[BUS] = create_bus(settings.redis_url)
        await app[BUS].start()
        yield
        await app[BUS].stop()

    app.cleanup_ctx.extend([database, bus, auth.signin_ctx, inbox_pages.inbox_ctx])
    auth.routes.register(app)
    inbox_pages.register(app)
    return app


async def live(url: str, clients: int, events: int) -> dict[str, Any]:
    settings = Settings(
        database_url=url, redis_url=REDIS, secret_key="bench-secret-key-not-for-production", _env_file=None
    )  # type: ignore[call-arg]
    async with transaction(session_factory(create_engine(url))) as session:
        await add_operator(session, "bench", "bench-password-123", "operator", "Bench")
    runners: list[web.AppRunner] = []
    bases: list[str] = []
    for _ in range(2):
        runner = web.AppRunner(worker_app(settings))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        bases.append(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}")  # type: ignore[union-attr]
    worker_a = runners[0].app
    sessions: list[aiohttp.ClientSession] = []
    received: dict[int, list[float]] = {}
    stored: dict[int, float] = {}
    try:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(http)
        login = await (await http.get(f"{bases[0]}/login")).text()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login)
        assert csrf
        form = {"login": "bench", "password": "bench-password-123", "csrf_token": csrf.group(1)}
        assert (await http.post(f"{bases[0]}/login", data=form)).status == 200
        cookies = {c.key: c.value for c in http.cookie_jar}
        connected: list[int] = []
        all_connected = asyncio.Event()
        all_received = asyncio.Event()

        async def listen(base: str) -> None:
            endless = aiohttp.ClientTimeout(total=None)
            async with (
                aiohttp.ClientSession(cookies=cookies) as client,
                client.get(f"{base}/inbox/events", timeout=endless) as stream,
            ):
                connected.append(1)
                if len(connected) == clients:
                    all_connected.set()
                async for line in stream.content:
                    if line.startswith(b"data: ") and b'"direction":"in"' in line:
                        number = int(json.loads(line[6:])["conversation_id"])
                        received.setdefault(number, []).append(time.perf_counter())
                        if sum(len(v) for v in received.values()) >= events * clients:
                            all_received.set()

        listeners = [asyncio.create_task(listen(bases[i % 2])) for i in range(clients)]
        await asyncio.wait_for(all_connected.wait(), 60)
        await asyncio.sleep(0.5)  # every stream has read its "hello"
        defaults = CustomerDefaults(language="ru", timezone="Europe/Moscow", plan="standard")
        for n in range(events):
            inbound = InboundMessage(
                channel="telegram", external_user_id=f"bench-{n}", chat_id=f"bench-{n}", channel_message_id="1",
                text=random.choice(TEXTS),
            )  # fmt: skip
            async with UnitOfWork(worker_a[SESSIONS], worker_a[BUS]) as uow:
                result = await record_inbound(uow, inbound, defaults)
                number = result.conversation.id
                stored[number] = time.perf_counter()  # stored in the transaction; commit and publish follow
            await asyncio.sleep(0.02)
        with contextlib.suppress(TimeoutError):  # reported: deliveries < expected_deliveries
            await asyncio.wait_for(all_received.wait(), 10)
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    finally:
        for session in sessions:
            await session.close()
        for runner in runners:
            await runner.cleanup()
    latencies = [t - stored[n] for n, times in received.items() if n in stored for t in times]
    return {
        "workers": 2,
        "clients": clients,
        "events": events,
        "deliveries": len(latencies),
        "expected_deliveries": events * clients,
        "latency_ms": percentiles(latencies, (50, 95, 99), scale=1000) if latencies else None,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200, help="timed runs of each query")
    parser.add_argument("--clients", type=int, default=50, help="connected inbox tabs (event streams)")
    parser.add_argument("--events", type=int, default=200, help="customer messages stored while they listen")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "command": "python bench/inbox.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }

    async def run(url: str) -> dict[str, Any]:
        out: dict[str, Any] = {"data": await load(url, args.conversations, args.messages, args.tickets)}
        out["queries"] = await queries(url, args.rounds)
        out["live"] = await live(url, args.clients, args.events)
        return out

    result["postgresql"] = await scratch_pg(run)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
