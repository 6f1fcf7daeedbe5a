"""Soak: several real workers on PostgreSQL + Redis under faults — nothing lost, nothing twice, nothing reordered.

    .venv/bin/python bench/soak.py [--workers 3] [--customers 200] [--messages 3]
                                   [--faults kill,postgres,redis,telegram] [--scale 1,2,3]

Starts ``--workers`` ``frontline serve`` processes in webhook mode on a scratch PostgreSQL database and Redis.
The Bot API stand-in plays Telegram: it hands each update to one worker as a load balancer would and, like
Telegram, retries on another worker until it gets a 200. Each phase has its own customers; each customer writes
``--messages`` messages one after another (KB questions, small talk, ticket intake, status), customers at once.
In a fault phase, the fault strikes at a random moment of the burst:

* ``kill``: ``kill -9`` of a random worker, restarted at once;
* ``postgres``: ``pg_ctlcluster <version> <--pg-cluster> restart`` — give the soak a cluster of its own
  (``pg_createcluster 15 soak -p 5433 -- --auth-host=trust``) unless nothing else uses ``main``;
* ``redis``: the Redis server on ``--redis-port`` shut down and started again three seconds later;
* ``telegram``: a storm of 429 with ``retry_after``, 500s, and sendMessage calls hanging past the client's
  timeout (which then reach the chat anyway, as they can with Telegram).

Per phase it reports: messages accepted by a worker, stored, handled; ``lost`` (accepted but not stored, or
stored and never handled), ``duplicated`` (stored twice, or more replies reached a chat than the outbox
recorded), ``out_of_order`` (conversations whose replies answer their messages out of order, or reached the
chat out of the outbox's order), ``timeout_ambiguous`` (extra deliveries explained by calls that hung past the
client timeout and reached the chat anyway — the ambiguity no client can resolve), ``recovery_s`` (from the
fault to the next reply delivered) and ``turns_per_s``. ``--scale`` runs the same burst without faults on 1, 2,
… workers and reports throughput. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import ClientError
from sqlalchemy import func, select

from bot.runtime import WEBHOOK_PATH, webhook_secret
from core.db import create_engine, execute_autocommit, session_factory
from core.migrate import upgrade
from core.models import DeliveryState, Direction, Message
from standin.botapi import BotApiStandIn
from standin.ledger import Ledger, read_ledger
from standin.processes import Worker, run_command, worker_env
from standin.stack import TOKEN

QUESTIONS = [
    "не работает интернет с утра",
    "как оплатить картой?",
    "здравствуйте",
    "где моя заявка",
    "как поменять пароль от вайфая",
    "how do I pay by card?",
    "спасибо",
    "сколько стоит тариф люкс",
    "my wifi keeps dropping",
    "хочу оставить заявку: роутер не включается",
]


class Cluster:
    """The workers, the stand-in in front of them, and the fault currently striking."""

    def __init__(self, standin: BotApiStandIn, env: dict[str, str], logs: Path, size: int) -> None:
        self.standin = standin
        self.env = env
        self.workers = [Worker(env, logs / f"worker{i}.log") for i in range(size)]
        self.secret = webhook_secret(TOKEN, None)
        self.rng = random.Random(7)

    async def start(self) -> None:
        await asyncio.gather(*(w.start() for w in self.workers))

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers))

    async def deliver(self, update: dict[str, Any]) -> None:
        """Telegram behind a balancer: retry, on whichever worker comes next, until a 200."""
        for attempt in range(10_000):
            worker = self.workers[self.rng.randrange(len(self.workers))]
            try:
                status = await self.standin.post_webhook(
                    worker.url + WEBHOOK_PATH, dict(update), self.secret, timeout=30
                )
            except (OSError, TimeoutError, ClientError):
                status = 0
            if status == 200:
                return
            await asyncio.sleep(min(0.1 * (attempt + 1), 2.0))
        raise RuntimeError(f"update {update['update_id']} was never accepted")


def cluster_version() -> str:
    return sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]


@dataclass(frozen=True)
class Services:
    """The PostgreSQL cluster and the Redis server the soak runs on — and restarts."""

    pg_cluster: str
    pg_port: int
    redis_port: int

    @property
    def pg_admin(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.pg_port}/postgres"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    async def restart_postgres(self) -> None:
        version = await asyncio.to_thread(cluster_version)
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, self.pg_cluster, "restart"]
        await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True)

    async def restart_redis(self) -> None:
        port = str(self.redis_port)
        await asyncio.to_thread(subprocess.run, ["redis-cli", "-p", port, "shutdown", "nosave"], capture_output=True)
        await asyncio.sleep(3)
        command = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", port, "--save", ""]
        await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True)


def fault_of(name: str, cluster: Cluster, services: Services) -> Callable[[], Awaitable[int]]:
    """The fault ``name``; returns how many sendMessage calls it made hang (for the ambiguity count)."""

    async def kill() -> int:
        worker = cluster.rng.choice(cluster.workers)
        worker.kill()
        await worker.wait_dead()
        await worker.start()
        return 0

    async def postgres() -> int:
        await services.restart_postgres()
        return 0

    async def redis() -> int:
        await services.restart_redis()
        return 0

    async def telegram() -> int:
        standin = cluster.standin
        hangs = 4
        standin.fail_next("sendMessage", "hang", seconds=20, times=hangs)  # the client gives up after 15 s
        standin.fail_next("sendMessage", "429", retry_after=2, times=30)
        standin.fail_next("sendMessage", "500", times=30)
        return hangs

    return {"kill": kill, "postgres": postgres, "redis": redis, "telegram": telegram}[name]


async def settle(url: str, chats: list[int], expected: int, patience: float = 600) -> tuple[Ledger, bool]:
    """Wait until every expected message is stored and handled and nothing is left to deliver.

    Returns the ledger and whether it settled; an unsettled phase is reported as it stands, not hidden.
    """
    deadline = time.monotonic() + patience
    last: Ledger | None = None
    while True:
        engine = create_engine(url)  # a fresh pool: the database may have restarted under the old one
        try:
            last = await read_ledger(session_factory(engine), chats)
        except Exception:  # the database is still coming back after a restart
            pass
        finally:
            await engine.dispose()
        if last and len(last.inbound) >= expected and not last.unhandled and not last.pending:
            return last, True
        if time.monotonic() > deadline and last is not None:
            return last, False
        await asyncio.sleep(1)


async def turn_rate(url: str, chats: list[int]) -> float:
    """Messages handled per second, from the database's own clock: first stored to last handled."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            first, last, count = (
                await session.execute(
                    select(func.min(Message.created_at), func.max(Message.handled_at), func.count()).where(
                        Message.chat_id.in_([str(c) for c in chats]), Message.direction == Direction.INBOUND
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    seconds = (last - first).total_seconds() if first and last else 0
    return round(count / seconds, 1) if seconds > 0 else 0.0


def judge(ledger: Ledger, standin: BotApiStandIn, chats: list[int], accepted: int, hung: int) -> dict[str, Any]:
    extra_deliveries = 0
    reordered = set(ledger.out_of_order())
    for chat in chats:
        recorded = [
            m
            for m in ledger.outbound
            if m.chat_id == str(chat) and m.delivery_state in (DeliveryState.SENT, DeliveryState.UNKNOWN)
        ]
        extra_deliveries += max(0, len(standin.sent_messages(chat)) - len(recorded))
        numbers = [int(m.channel_message_id) for m in sorted(recorded, key=lambda m: m.seq) if m.channel_message_id]
        if numbers != sorted(numbers):
            reordered.add(f"chat {chat}")
    ambiguous = min(extra_deliveries, hung)
    stored_keys = {(m.chat_id, m.channel_message_id) for m in ledger.inbound}
    return {
        "accepted": accepted,
        "stored": len(stored_keys),
        "handled": len(ledger.inbound) - len(ledger.unhandled),
        "replies": len(ledger.outbound),
        "lost": (accepted - len(stored_keys)) + len(ledger.unhandled),
        "duplicated": len(ledger.stored_twice) + extra_deliveries - ambiguous,
        "out_of_order": len(reordered),
        "timeout_ambiguous": ambiguous,
        "unknown_outcome_flagged": sum(1 for m in ledger.outbound if m.delivery_state is DeliveryState.UNKNOWN),
        "failed_replies": sum(1 for m in ledger.outbound if m.delivery_state is DeliveryState.FAILED),
    }


async def phase(
    url: str,
    cluster: Cluster,
    services: Services,
    first_chat: int,
    customers: int,
    messages: int,
    fault: str | None,
) -> dict[str, Any]:
    standin = cluster.standin
    chats = list(range(first_chat, first_chat + customers))
    before_sends = len(standin.calls_to("sendMessage"))
    hung = 0
    struck_at: float | None = None

    async def customer(chat: int) -> None:
        for n in range(messages):
            text = QUESTIONS[(chat + n) % len(QUESTIONS)]
            await cluster.deliver(standin.make_text_update(chat, chat, text, language_code="ru"))
            await asyncio.sleep(cluster.rng.uniform(0.05, 0.5))

    async def strike() -> None:
        nonlocal hung, struck_at
        await asyncio.sleep(cluster.rng.uniform(2.0, 6.0))
        struck_at = time.monotonic()
        hung = await fault_of(fault, cluster, services)() if fault else 0

    started = time.monotonic()
    await asyncio.gather(*(customer(c) for c in chats), strike())
    ledger, settled = await settle(url, chats, customers * messages)
    elapsed = time.monotonic() - started
    result = judge(ledger, standin, chats, customers * messages, hung)
    result["settled"] = settled
    result["still_pending_replies"] = len(ledger.pending)
    result["turns_per_s"] = await turn_rate(url, chats)
    result["elapsed_s"] = round(elapsed, 1)
    injected = [c.fault for c in standin.calls_to("sendMessage")[before_sends:] if c.fault]
    result["faults_injected"] = {kind: injected.count(kind) for kind in sorted(set(injected))}
    if fault and struck_at is not None:
        after = [c.time for c in standin.calls_to("sendMessage")[before_sends:] if c.ok and c.time >= struck_at]
        result["recovery_s"] = round(min(after) - struck_at, 2) if after else None
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--faults", default="kill,postgres,redis,telegram")
    parser.add_argument("--scale", default="1,2,3", help="worker counts for the throughput runs ('' skips them)")
    parser.add_argument("--pg-cluster", default="main", help="the PostgreSQL cluster to use and restart")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--redis-port", type=int, default=6379, help="the Redis server to use and restart")
    args = parser.parse_args()
    services = Services(args.pg_cluster, args.pg_port, args.redis_port)
    pg_admin = services.pg_admin
    name = f"frontline_soak_{uuid.uuid4().hex[:8]}"
    await execute_autocommit(pg_admin, f'CREATE DATABASE "{name}"')
    url = pg_admin.rsplit("/", 1)[0] + f"/{name}"
    result: dict[str, Any] = {
        "workers": args.workers,
        "customers": args.customers,
        "messages_per_customer": args.messages,
        "database": "postgresql",
        "redis": True,
        "telegram": "webhook",
        "faults": {},
        "scale": {},
    }
    try:
        await asyncio.to_thread(upgrade, url)
        with tempfile.TemporaryDirectory() as tmp:
            var = Path(tmp)
            async with BotApiStandIn() as standin:
                env = worker_env(
                    url,
                    var / "var",
                    standin.url,
                    FRONTLINE_REDIS_URL=services.redis_url,
                    FRONTLINE_TELEGRAM_WEBHOOK_URL="https://desk.example/telegram/webhook",
                )
                await run_command(env, "demo", "load", "--without-history")
                next_chat = 100_000
                for count in [int(n) for n in args.scale.split(",") if n]:
                    cluster = Cluster(standin, env, var, count)
                    await cluster.start()
                    try:
                        run = await phase(url, cluster, services, next_chat, args.customers, args.messages, None)
                    finally:
                        await cluster.stop()
                    result["scale"][str(count)] = run
                    print(f"scale {count}: {json.dumps(run)}", file=sys.stderr, flush=True)
                    next_chat += args.customers
                cluster = Cluster(standin, env, var, args.workers)
                await cluster.start()
                try:
                    for fault in [f for f in args.faults.split(",") if f]:
                        result["faults"][fault] = await phase(
                            url, cluster, services, next_chat, args.customers, args.messages, fault
                        )
                        print(f"{fault}: {json.dumps(result['faults'][fault])}", file=sys.stderr, flush=True)
                        next_chat += args.customers
                finally:
                    await cluster.stop()
        result["turn_ms_note"] = "turns_per_s from the database clock: first message stored to last handled"
    finally:
        await execute_autocommit(pg_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
