"""Soak: several real workers on PostgreSQL + Redis under faults — nothing lost, nothing twice, nothing reordered.

    .venv/bin/python bench/soak.py [--workers 3] [--customers 200] [--visitors 50] [--messages 3]
                                   [--faults kill,postgres,redis,telegram] [--scale 1,2,3]
                                   [--pg-cluster soak --pg-port 5433 --redis-port 6380]

Starts ``--workers`` ``frontline serve`` processes in webhook mode on a scratch PostgreSQL database and Redis.
The Bot API stand-in plays Telegram: it hands each update to one worker as a load balancer would and, like
Telegram, retries on another worker until it gets a 200. Each phase has its own customers; each writes
``--messages`` messages one after another (KB questions, small talk, ticket intake, status), all at once:

* ``--customers`` Telegram customers;
* ``--visitors`` web-chat visitors on real WebSockets (``standin/widget.py``): each opens its socket on any
  worker, moves to whichever worker comes next mid-conversation and resumes there (hello with its token and the
  last number shown; a message not shown back as stored is resent under its client id), acknowledges each reply
  it is shown, and reconnects at once when its worker dies;
* every fifth customer and visitor ends by asking for a person; a scripted operator on the inbox JSON API
  (``standin/operator.py``: sign in, take, reply, close, through any worker) answers each of them once.

In a fault phase, the fault strikes at a random moment of the burst:

* ``kill``: ``kill -9`` of a random worker, restarted at once;
* ``postgres``: ``pg_ctlcluster <version> <--pg-cluster> restart`` — give the soak a cluster of its own
  (``pg_createcluster 15 soak -p 5433 -- --auth-host=trust``) unless nothing else uses ``main``;
* ``redis``: the Redis server on ``--redis-port`` shut down and started again three seconds later;
* ``telegram``: a storm of 429 with ``retry_after``, 500s, and sendMessage calls hanging past the client's
  timeout, which the stand-in then accepts all the same (as Telegram can): the customer has the reply, the
  worker saw a timeout.

Per phase it reports: messages accepted (Telegram updates answered 200, web messages shown back stored), stored,
handled; ``lost`` (accepted but not stored, stored and never handled, a Telegram reply that failed for good, or
a web reply the visitor was never shown); ``duplicated`` (a message stored twice, the same reply stored twice for
one message, or more replies reached a Telegram chat than the outbox recorded that the timeout ambiguity does
not explain); ``out_of_order`` (conversations whose replies answer their messages out of order, or reached the
chat out of the outbox's order); ``timeout_ambiguous`` (extra deliveries explained by sends that reached the
chat after the worker had timed out on them — the ambiguity no client can resolve; ``ambiguous_sends`` is how
many such sends there were); the operator's replies and how many reached their customer exactly once;
``recovery_s`` (from the fault to the next reply delivered) and ``turns_per_s``. ``--scale`` runs the same mix
without faults on 1, 2, … workers and reports throughput. Prints one JSON object.
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

from aiohttp import ClientError, ClientSession, ClientTimeout
from sqlalchemy import func, select

from bot.demo import DEMO_ACCOUNTS
from bot.runtime import WEBHOOK_PATH, webhook_secret
from core.db import create_engine, execute_autocommit, session_factory
from core.migrate import upgrade
from core.models import Author, Channel, Conversation, ConversationStatus, DeliveryState, Direction, Message
from standin.botapi import BotApiStandIn
from standin.ledger import Ledger, read_ledger
from standin.operator import ScriptedOperator
from standin.processes import Worker, run_command, worker_env
from standin.stack import TOKEN
from standin.widget import WebVisitor

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
HANDOFF = "позовите живого оператора пожалуйста"
OPERATOR = next(a for a in DEMO_ACCOUNTS if a.role == "operator")


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

    def pick(self) -> str:
        """Any worker, as a load balancer would choose (a dead one refuses, and the caller tries again)."""
        return self.workers[self.rng.randrange(len(self.workers))].url

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


def fault_of(name: str, cluster: Cluster, services: Services) -> Callable[[], Awaitable[None]]:
    """The fault ``name``, striking now."""

    async def kill() -> None:
        worker = cluster.rng.choice(cluster.workers)
        worker.kill()
        await worker.wait_dead()
        await worker.start()

    async def postgres() -> None:
        await services.restart_postgres()

    async def redis() -> None:
        await services.restart_redis()

    async def telegram() -> None:
        standin = cluster.standin
        # The client gives up after 15 s; the stand-in accepts the hung sends at 20 s all the same.
        standin.fail_next("sendMessage", "hang", seconds=20, times=4)
        standin.fail_next("sendMessage", "429", retry_after=2, times=30)
        standin.fail_next("sendMessage", "500", times=30)

    return {"kill": kill, "postgres": postgres, "redis": redis, "telegram": telegram}[name]


async def open_handoffs(url: str, chats: list[str]) -> int:
    """Conversations of these chats still with a human (waiting or taken and not yet closed)."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Conversation)
                .join(Message, Message.conversation_id == Conversation.id)
                .where(
                    Message.chat_id.in_(chats),
                    Conversation.status.in_([ConversationStatus.WAITING, ConversationStatus.ASSIGNED]),
                )
            )
    finally:
        await engine.dispose()
    return int(count or 0)


async def settle(url: str, chats: list[str], expected: int, patience: float = 600) -> tuple[Ledger, bool]:
    """Wait until every expected message is stored and handled, every handoff closed and nothing left to deliver.

    Returns the ledger and whether it settled; an unsettled phase is reported as it stands, not hidden.
    """
    deadline = time.monotonic() + patience
    last: Ledger | None = None
    while True:
        engine = create_engine(url)  # a fresh pool: the database may have restarted under the old one
        try:
            last = await read_ledger(session_factory(engine), chats)
            with_human = await open_handoffs(url, chats)
        except Exception:  # the database is still coming back after a restart
            with_human = -1
        finally:
            await engine.dispose()
        if last and len(last.inbound) >= expected and not last.unhandled and not last.pending and with_human == 0:
            return last, True
        if time.monotonic() > deadline and last is not None:
            return last, False
        await asyncio.sleep(1)


async def turn_rate(url: str, chats: list[str]) -> float:
    """Messages handled per second, from the database's own clock: first stored to last handled."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            first, last, count = (
                await session.execute(
                    select(func.min(Message.created_at), func.max(Message.handled_at), func.count()).where(
                        Message.chat_id.in_(chats), Message.direction == Direction.INBOUND
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    seconds = (last - first).total_seconds() if first and last else 0
    return round(count / seconds, 1) if seconds > 0 else 0.0


async def visitor_ids(url: str, visitors: list[WebVisitor]) -> dict[str, WebVisitor]:
    """Each visitor's id (a web conversation's chat id), found by the client ids of what it sent."""
    engine = create_engine(url)
    found: dict[str, WebVisitor] = {}
    try:
        async with session_factory(engine)() as session:
            for visitor in visitors:
                vid = await session.scalar(
                    select(Message.chat_id)
                    .where(Message.channel == Channel.WEB, Message.channel_message_id.in_(list(visitor.sent)))
                    .limit(1)
                )
                if vid is not None:
                    found[vid] = visitor
    finally:
        await engine.dispose()
    return found


def judge(
    ledger: Ledger,
    standin: BotApiStandIn,
    chats: list[int],
    visitors: dict[str, WebVisitor],
    accepted: int,
) -> dict[str, Any]:
    """Telegram chats by the stand-in's record, web visitors by what their widget was shown."""
    extra_deliveries = 0
    ambiguous = 0
    reordered = set(ledger.out_of_order())
    for chat in chats:
        recorded = [
            m
            for m in ledger.outbound
            if m.chat_id == str(chat) and m.delivery_state in (DeliveryState.SENT, DeliveryState.UNKNOWN)
        ]
        hung = len(standin.ambiguous_sends(chat))
        # A send that timed out and is retried reaches the chat twice when the first try got through after all;
        # those extra deliveries are the timeout ambiguity, counted apart. Any others are duplicates.
        extra = max(0, len(standin.sent_messages(chat)) - len(recorded))
        ambiguous += min(extra, hung)
        extra_deliveries += extra - min(extra, hung)
        numbers = [int(m.channel_message_id) for m in sorted(recorded, key=lambda m: m.seq) if m.channel_message_id]
        if numbers != sorted(numbers):
            reordered.add(f"chat {chat}")
    web_unseen = 0
    web_shown_out_of_order = 0
    for vid, visitor in visitors.items():
        replies = [m for m in ledger.outbound if m.chat_id == vid]
        web_unseen += sum(1 for m in replies if m.seq not in visitor.shown)
        # The widget shows messages by number; a number given to two different texts would show out of place.
        web_shown_out_of_order += sum(
            1 for m in replies if m.seq in visitor.shown and visitor.shown[m.seq].get("text") != m.text
        )
    stored_keys = {(m.chat_id, m.channel_message_id) for m in ledger.inbound}
    failed = [m for m in ledger.outbound if m.delivery_state is DeliveryState.FAILED and m.channel is Channel.TELEGRAM]
    return {
        "accepted": accepted,
        "stored": len(stored_keys),
        "handled": len(ledger.inbound) - len(ledger.unhandled),
        "replies": len(ledger.outbound),
        "lost": (accepted - len(stored_keys)) + len(ledger.unhandled) + web_unseen + len(failed),
        "duplicated": len(ledger.stored_twice) + len(ledger.answered_twice) + extra_deliveries,
        "out_of_order": len(reordered) + web_shown_out_of_order,
        "timeout_ambiguous": ambiguous,
        "ambiguous_sends": len(standin.ambiguous_sends()),
        "unknown_outcome_flagged": sum(1 for m in ledger.outbound if m.delivery_state is DeliveryState.UNKNOWN),
        "failed_replies": sum(1 for m in ledger.outbound if m.delivery_state is DeliveryState.FAILED),
        "web_replies_not_shown": web_unseen,
    }


def judge_operator(
    ledger: Ledger, standin: BotApiStandIn, operator: ScriptedOperator, visitors: dict[str, WebVisitor]
) -> dict[str, Any]:
    """Each operator reply reached its customer's channel exactly once (ambiguous timeouts apart)."""
    by_text = {m.text: m for m in ledger.outbound if m.author is Author.OPERATOR}
    once = missing = twice = 0
    for handled in operator.handled.values():
        stored = by_text.get(handled.reply)
        if not handled.replied or stored is None:
            continue
        if stored.channel is Channel.TELEGRAM:
            calls = [
                c for c in standin.calls_to("sendMessage") if c.ok and handled.reply in str(c.params.get("text", ""))
            ]
            seen = len(calls) - min(len(calls) - 1, sum(1 for c in calls if c.ambiguous)) if calls else 0
        else:
            visitor = visitors.get(stored.chat_id)
            seen = sum(1 for f in visitor.shown.values() if f.get("text") == handled.reply) if visitor else 0
        once += seen == 1
        missing += seen == 0 and stored.delivery_state is not DeliveryState.UNKNOWN
        twice += seen > 1
    return {
        "handoffs_taken": len(operator.handled) - operator.lost_to_others,
        "operator_replies": sum(1 for h in operator.handled.values() if h.replied),
        "operator_replies_delivered_once": once,
        "operator_replies_lost": missing,
        "operator_replies_duplicated": twice,
        "operator_requests_retried": dict(operator.errors),
    }


async def phase(
    url: str,
    cluster: Cluster,
    services: Services,
    first_chat: int,
    customers: int,
    visitors: int,
    messages: int,
    fault: str | None,
) -> dict[str, Any]:
    standin = cluster.standin
    chats = list(range(first_chat, first_chat + customers))
    before_sends = len(standin.calls_to("sendMessage"))
    struck_at: float | None = None

    def script(n: int) -> list[str]:
        """Every fifth customer ends by asking for a person; the scripted operator answers them."""
        said = [QUESTIONS[(n + k) % len(QUESTIONS)] for k in range(messages)]
        if n % 5 == 0:
            said[-1] = HANDOFF
        return said

    async def customer(chat: int) -> None:
        for text in script(chat):
            await cluster.deliver(standin.make_text_update(chat, chat, text, language_code="ru"))
            await asyncio.sleep(cluster.rng.uniform(0.05, 0.5))

    async def visitor(web: WebVisitor, n: int) -> None:
        await web.connect()
        for k, text in enumerate(script(n)):
            if k == messages // 2:
                await web.hop()  # mid-conversation, to whichever worker comes next
            await web.say(text)
            await asyncio.sleep(cluster.rng.uniform(0.05, 0.5))

    async def strike() -> None:
        nonlocal struck_at
        await asyncio.sleep(cluster.rng.uniform(2.0, 6.0))
        struck_at = time.monotonic()
        if fault:
            await fault_of(fault, cluster, services)()

    started = time.monotonic()
    stop_operator = asyncio.Event()
    async with (
        ClientSession(timeout=ClientTimeout(total=30)) as http,
        ScriptedOperator(cluster.pick, OPERATOR.login, OPERATOR.password) as operator,
    ):
        webs = [WebVisitor(http, cluster.pick) for _ in range(visitors)]
        await operator.sign_in()
        working = asyncio.create_task(operator.work(stop_operator))
        try:
            await asyncio.gather(*(customer(c) for c in chats), *(visitor(w, n) for n, w in enumerate(webs)), strike())
            by_vid = await visitor_ids(url, webs)
            everyone = [str(c) for c in chats] + list(by_vid)
            ledger, settled = await settle(url, everyone, (customers + visitors) * messages)
            await standin.wait_hangs_over(timeout=120)
            await asyncio.sleep(2)  # the last acks and catch-ups reach the visitors
            ledger = await read_fresh(url, everyone)
        finally:
            stop_operator.set()
            await working
            await asyncio.gather(*(w.close() for w in webs))
        elapsed = time.monotonic() - started
        result = judge(ledger, standin, chats, by_vid, (customers + visitors) * messages)
        result.update(judge_operator(ledger, standin, operator, by_vid))
    result["settled"] = settled
    result["web_visitors"] = visitors
    result["web_reconnects"] = sum(w.reconnects for w in webs)
    result["still_pending_replies"] = len(ledger.pending)
    result["turns_per_s"] = await turn_rate(url, everyone)
    result["elapsed_s"] = round(elapsed, 1)
    injected = [c.fault for c in standin.calls_to("sendMessage")[before_sends:] if c.fault]
    result["faults_injected"] = {kind: injected.count(kind) for kind in sorted(set(injected))}
    if fault and struck_at is not None:
        after = [c.time for c in standin.calls_to("sendMessage")[before_sends:] if c.ok and c.time >= struck_at]
        result["recovery_s"] = round(min(after) - struck_at, 2) if after else None
    return result


async def read_fresh(url: str, chats: list[str]) -> Ledger:
    engine = create_engine(url)
    try:
        return await read_ledger(session_factory(engine), chats)
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--visitors", type=int, default=50, help="web-chat visitors per phase")
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
        "web_visitors": args.visitors,
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
                        run = await phase(
                            url, cluster, services, next_chat, args.customers, args.visitors, args.messages, None
                        )
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
                            url, cluster, services, next_chat, args.customers, args.visitors, args.messages, fault
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
