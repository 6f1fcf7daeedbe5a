"""Real worker processes killed with SIGKILL mid-burst: nothing Telegram handed over is lost or answered twice.

Each test starts ``frontline serve`` as separate processes talking to the Bot API stand-in over loopback,
pushes a burst of customer messages, kills a worker with ``kill -9`` while the burst is being handled, starts
it again and then reads back the database and the stand-in's record of what reached the customers:

* every update the stand-in handed over is stored exactly once and gets its turn;
* no customer receives a reply twice (the stand-in's successful ``sendMessage`` calls per chat never exceed the
  replies the outbox recorded as sent, plus those whose outcome a crash made unknown and flagged);
* replies answer each conversation's messages in the order they were written.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientError

from bot.runtime import webhook_secret
from core.db import create_engine, session_factory
from core.models import DeliveryState
from standin.botapi import BotApiStandIn
from standin.ledger import Ledger, settled
from standin.processes import Worker, run_command, worker_env
from tests.support.databases import empty_tables

pytestmark = [pytest.mark.timeout(900)]

# Questions from every path of a turn: KB answers, small talk, the ticket and status flows.
QUESTIONS = [
    "как оплатить интернет",
    "не работает интернет",
    "забыл пароль от wifi",
    "привет",
    "как сменить тариф",
    "где моя заявка",
    "спасибо",
    "how do I pay for the internet",
]
CHATS = list(range(7001, 7013))
ROUNDS = 3


def burst(standin: BotApiStandIn) -> list[dict[str, Any]]:
    """ROUNDS messages from each chat, interleaved across chats as a busy minute would bring them."""
    updates = []
    for round_no, chat in itertools.product(range(ROUNDS), CHATS):
        text = QUESTIONS[(chat + round_no) % len(QUESTIONS)]
        updates.append(standin.make_text_update(chat, chat, text, language_code="ru"))
    return updates


def assert_exactly_once(ledger: Ledger, standin: BotApiStandIn) -> None:
    assert ledger.stored_twice == []
    assert len(ledger.inbound) == len(CHATS) * ROUNDS
    assert ledger.unhandled == []
    assert ledger.unanswered == []
    assert ledger.out_of_order() == []
    recorded = ledger.replies_per_chat(DeliveryState.SENT, DeliveryState.UNKNOWN)
    delivered = ledger.replies_per_chat(DeliveryState.SENT)
    for chat in CHATS:
        sends = len(standin.sent_messages(chat))
        assert sends <= recorded[str(chat)], f"chat {chat} received {sends} replies, {recorded[str(chat)]} recorded"
        assert sends >= delivered[str(chat)], f"chat {chat}: replies recorded as sent never reached Telegram"


async def test_kill_9_mid_burst_on_sqlite_loses_nothing_and_answers_each_message_once(tmp_path: Path) -> None:
    """The single-process default (SQLite, long polling) killed while handling a burst, then restarted."""
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'frontline.db'}"
    async with BotApiStandIn() as standin:
        env = worker_env(sqlite_url, tmp_path / "var", standin.url)
        await run_command(env, "db", "upgrade")
        await run_command(env, "demo", "load", "--without-history")
        worker = Worker(env, tmp_path / "worker.log")
        await worker.start()
        try:
            await standin.wait_polling_started(timeout=60)
            for update in burst(standin):
                standin.push_update(update)
            # Kill once part of the burst is answered: the rest is stored, in a turn, or still at Telegram.
            await standin.wait_for("sendMessage", count=5, timeout=120, predicate=lambda c: c.ok)
            worker.kill()
            await worker.wait_dead()
            await worker.start()
            engine = create_engine(sqlite_url)
            try:
                ledger = await settled(session_factory(engine), CHATS, len(CHATS) * ROUNDS)
            finally:
                await engine.dispose()
            assert_exactly_once(ledger, standin)
        finally:
            await worker.stop()


async def post_like_telegram(
    standin: BotApiStandIn, workers: list[Worker], number: int, update: dict[str, Any], secret: str
) -> None:
    """Deliver one update as Telegram does behind a load balancer: retry (on any worker) until a 200."""
    for attempt in itertools.count():
        worker = workers[(number + attempt) % len(workers)]
        try:
            status = await standin.post_webhook(worker.url + "/telegram/webhook", dict(update), secret, timeout=30)
        except (OSError, TimeoutError, ClientError):
            status = 0  # refused or cut: the worker is down or died mid-request
        if status == 200:
            return
        await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))


@pytest.mark.postgres
@pytest.mark.redis
async def test_kill_9_of_one_of_two_webhook_workers_on_postgresql_loses_nothing(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Two workers on PostgreSQL + Redis behind a balancer; one is killed mid-burst and comes back."""
    engine = create_engine(postgres_url)
    await empty_tables(engine)
    try:
        async with BotApiStandIn() as standin:
            env = worker_env(
                postgres_url,
                tmp_path / "var",
                standin.url,
                FRONTLINE_REDIS_URL=redis_url,
                FRONTLINE_TELEGRAM_WEBHOOK_URL="https://desk.example/telegram/webhook",
            )
            await run_command(env, "demo", "load", "--without-history")
            workers = [Worker(env, tmp_path / f"worker{i}.log") for i in range(2)]
            await asyncio.gather(*(w.start() for w in workers))
            try:
                secret = webhook_secret(env["FRONTLINE_TELEGRAM_TOKEN"], None)
                limit = asyncio.Semaphore(6)

                async def deliver(number: int, update: dict[str, Any]) -> None:
                    async with limit:
                        await post_like_telegram(standin, workers, number, update, secret)

                delivery = asyncio.gather(*(deliver(n, u) for n, u in enumerate(burst(standin))))
                await standin.wait_for("sendMessage", count=5, timeout=120, predicate=lambda c: c.ok)
                workers[0].kill()
                await workers[0].wait_dead()
                await workers[0].start()
                await asyncio.wait_for(delivery, 180)
                ledger = await settled(session_factory(engine), CHATS, len(CHATS) * ROUNDS)
                assert_exactly_once(ledger, standin)
            finally:
                await asyncio.gather(*(w.stop() for w in workers))
    finally:
        await engine.dispose()
