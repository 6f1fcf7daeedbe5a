"""Notice fan-out through the real stack and the Bot API stand-in: rate bounded by the channel's limit, nothing lost
or duplicated.

    .venv/bin/python bench/notices.py [--customers 3000] [--rate 25] [--backend sqlite|postgresql] [--batch 500]

Stores ``--customers`` Telegram customers (each with a chat, written in bulk, not through turns), starts the
application with ``FRONTLINE_TELEGRAM_RATE_LIMIT=--rate`` (the shipped default is 25), sends one service notice
to all of them (a plan only they have) through the admin's functions, and waits until every recipient's message
is delivered. Reports: the fan-out time (every recipient and outbox message stored), the delivery time and rate,
the most sendMessage calls the stand-in received in any one-second window (must not exceed the limit's burst),
``lost`` (customers without a delivered notice) and ``duplicated`` (chats that received it more than once, from
the stand-in's own record, and outbox messages per chat from ``standin.ledger``). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select

from core.db import execute_autocommit, is_postgres, transaction
from core.migrate import upgrade
from core.models import Channel, Conversation, ConversationStatus, Customer, DeliveryState, Identity, Message
from core.web.keys import SESSIONS
from notices import sending
from notices.audience import Audience, AudienceKind
from notices.keys import NOTICE_SENDER
from notices.models import NoticeKind, NoticeRecipient
from standin.botapi import BotApiStandIn
from standin.ledger import read_ledger
from standin.stack import stack_settings, start_stack

PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
PLAN = "bench-notices"
FIRST_CHAT = 500_000
CHUNK = 2000


async def seed(stack: Any, customers: int) -> list[int]:
    """Customers on their own plan, each with a Telegram identity and a conversation."""
    chats = [FIRST_CHAT + n for n in range(customers)]
    factory = stack.app[SESSIONS]
    for start in range(0, customers, CHUNK):
        part = chats[start : start + CHUNK]
        async with transaction(factory) as session:
            first = int(await session.scalar(select(func.max(Customer.id))) or 0) + 1
            ids = list(range(first, first + len(part)))
            await session.execute(
                insert(Customer),
                [
                    {
                        "id": i,
                        "name": f"Клиент {c}",
                        "language": "ru" if c % 3 else "en",
                        "timezone": "UTC",
                        "plan": PLAN,
                    }
                    for i, c in zip(ids, part, strict=True)
                ],
            )
            await session.execute(
                insert(Identity),
                [
                    {"customer_id": i, "channel": Channel.TELEGRAM, "external_id": str(c), "display_name": ""}
                    for i, c in zip(ids, part, strict=True)
                ],
            )
            await session.execute(
                insert(Conversation),
                [
                    {
                        "customer_id": i,
                        "channel": Channel.TELEGRAM,
                        "chat_id": str(c),
                        "language": "ru",
                        "status": ConversationStatus.BOT,
                        "dialog_state": {},
                        "last_seq": 0,
                    }
                    for i, c in zip(ids, part, strict=True)
                ],
            )
    if is_postgres(factory):
        async with transaction(factory) as session:  # ids were given explicitly: move the sequence past them
            await session.execute(
                select(func.setval("customers_id_seq", select(func.max(Customer.id)).scalar_subquery()))
            )
    return chats


def max_per_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, left = 0, 0
    for right, moment in enumerate(times):
        while moment - times[left] >= window:
            left += 1
        best = max(best, right - left + 1)
    return best


async def run(url: str, customers: int, rate: float, batch: int, var: Path) -> dict[str, Any]:
    await asyncio.to_thread(upgrade, url)
    async with BotApiStandIn() as standin:
        settings = stack_settings(url, var, standin, telegram_rate_limit=rate, notice_batch=batch)
        stack = await start_stack(settings, standin)
        try:
            chats = await seed(stack, customers)
            factory = stack.app[SESSIONS]
            draft = sending.NoticeDraft(
                kind=NoticeKind.SERVICE,
                text_ru="Здравствуйте, {name}! Ночью плановые работы.",
                text_en="Hello {name}! Planned works tonight.",
                audience=Audience(kind=AudienceKind.PLAN, value=PLAN),
                key=f"bench-{uuid.uuid4().hex}",
            )
            calls_before = len(standin.calls_to("sendMessage"))
            started = time.perf_counter()
            async with transaction(factory) as session:
                notice = await sending.create(session, draft, None)
                await sending.start(session, notice.id, None)
            stack.app[NOTICE_SENDER].wake()
            fanned_out = None
            while True:
                await asyncio.sleep(1.0)
                async with factory() as session:
                    stored = await session.scalar(select(func.count()).where(NoticeRecipient.notice_id == notice.id))
                    done = await session.scalar(
                        select(func.count())
                        .select_from(NoticeRecipient)
                        .join(Message, Message.id == NoticeRecipient.message_id)
                        .where(
                            NoticeRecipient.notice_id == notice.id,
                            Message.delivery_state.in_([DeliveryState.SENT, DeliveryState.FAILED]),
                        )
                    )
                if fanned_out is None and stored == customers:
                    fanned_out = time.perf_counter() - started
                if done == customers:
                    break
            elapsed = time.perf_counter() - started
            calls = [c for c in standin.calls_to("sendMessage")[calls_before:] if c.ok]
            per_chat = Counter(int(c.params["chat_id"]) for c in calls)
            ledger = await read_ledger(factory, chats)
            outbox_per_chat = ledger.replies_per_chat(DeliveryState.SENT)
            first, last = min(c.time for c in calls), max(c.time for c in calls)
            return {
                "customers": customers,
                "rate_limit_per_s": rate,
                "fan_out_s": round(fanned_out or elapsed, 1),
                "delivery_s": round(elapsed, 1),
                "delivered_per_s": round(len(calls) / max(last - first, 1e-9), 1),
                "max_calls_in_any_1s": max_per_window([c.time for c in calls]),
                "lost": sum(1 for chat in chats if per_chat[chat] == 0),
                "duplicated": sum(1 for chat in chats if per_chat[chat] > 1)
                + sum(1 for count in outbox_per_chat.values() if count > 1),
                "failed": sum(1 for m in ledger.outbound if m.delivery_state is DeliveryState.FAILED),
            }
        finally:
            await stack.client.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=3000, help="about 2 minutes at the default rate")
    parser.add_argument("--rate", type=float, default=25.0, help="FRONTLINE_TELEGRAM_RATE_LIMIT (messages/s)")
    parser.add_argument("--batch", type=int, default=500, help="FRONTLINE_NOTICE_BATCH")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        if args.backend == "sqlite":
            result = await run(f"sqlite+aiosqlite:///{var / 'bench.db'}", args.customers, args.rate, args.batch, var)
        else:
            name = f"frontline_bench_{uuid.uuid4().hex[:8]}"
            await execute_autocommit(PG_ADMIN, f'CREATE DATABASE "{name}"')
            try:
                url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
                result = await run(url, args.customers, args.rate, args.batch, var)
            finally:
                await execute_autocommit(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result["backend"] = args.backend
    result["load"] = os.getloadavg()
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
