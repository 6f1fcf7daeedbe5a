"""Conversation turns through the real aiogram stack and the Bot API stand-in, per database.

Many customers write at once; each message goes update → poller → store → NLU → knowledge base →
reply stored → delivered. Reported: latency from the inbound message stored to its first reply stored
(from the database's own timestamps), and sustained throughput (messages answered per second).

    .venv/bin/python bench/turns.py [--chats 40] [--messages 10] [--backends sqlite,postgresql]

Prints one JSON object keyed by database.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from bench._stats import percentiles
from core.db import execute_autocommit
from core.migrate import upgrade
from core.models import Direction, Message
from core.web.keys import SESSIONS
from standin.botapi import BotApiStandIn
from standin.stack import stack_settings, start_stack

QUESTIONS = [
    "не работает интернет с утра",
    "как оплатить картой?",
    "как поменять пароль от вайфая",
    "здравствуйте",
    "сколько стоит тариф люкс",
    "how do I pay by card?",
    "my wifi keeps dropping",
    "спасибо",
    "как подключить автоплатёж",
    "where can I find my contract number",
]
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def run_backend(url: str, chats: int, messages: int, var: Path, profile: Path | None = None) -> dict[str, Any]:
    await asyncio.to_thread(upgrade, url)
    async with BotApiStandIn() as standin:
        stack = await start_stack(stack_settings(url, var, standin), standin)
        try:
            # Warm-up: one turn so lazy loading is not measured.
            await stack.say(1, "привет")
            profiler = cProfile.Profile() if profile is not None else None
            if profiler is not None:
                profiler.enable()
            started = time.perf_counter()
            last = 0
            for round_ in range(messages):
                for chat in range(chats):
                    question = QUESTIONS[(chat + round_) % len(QUESTIONS)]
                    last = standin.push_update(standin.make_text_update(10_000 + chat, 10_000 + chat, question))
            await stack.settle(timeout=600, update_id=last, poll=0.5)  # a slow poll: it must not compete
            elapsed = time.perf_counter() - started
            if profiler is not None and profile is not None:
                profiler.disable()
                profiler.dump_stats(profile)
            latencies: list[float] = []
            async with stack.app[SESSIONS]() as session:
                rows = list((await session.execute(select(Message).where(Message.chat_id != "1"))).scalars())
            inbound = {m.id: m for m in rows if m.direction is Direction.INBOUND}
            first_reply: dict[int, Message] = {}
            for m in rows:
                answered = m.meta.get("in_reply_to")
                earliest = m.direction is Direction.OUTBOUND and answered in inbound
                if earliest and (answered not in first_reply or m.id < first_reply[answered].id):
                    first_reply[answered] = m
            for message_id, reply in first_reply.items():
                latencies.append((reply.created_at - inbound[message_id].created_at).total_seconds() * 1000)
            total = chats * messages
            return {
                "turn_ms": percentiles(latencies, (50, 95, 100), digits=1) if latencies else None,
                "msgs_per_s": round(total / elapsed, 1),
                "messages": total,
                "answered": len(latencies),
                "chats": chats,
            }
        finally:
            await stack.client.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=40)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{var / 'bench.db'}"
                result["sqlite"] = await run_backend(url, args.chats, args.messages, var)
            elif backend == "postgresql":
                name = f"frontline_bench_{uuid.uuid4().hex[:8]}"
                await execute_autocommit(PG_ADMIN, f'CREATE DATABASE "{name}"')
                try:
                    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
                    result["postgresql"] = await run_backend(url, args.chats, args.messages, var)
                finally:
                    await execute_autocommit(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
