"""Conversation turns through the real aiogram stack and the Bot API stand-in, per database.

Many customers write at once; each message goes update → poller → store → NLU → knowledge base →
reply stored → delivered. Reported: latency from the inbound message stored to its first reply stored
(from the database's own timestamps), and sustained throughput (messages answered per second).

    .venv/bin/python bench/turns.py [--chats 40] [--messages 10] [--backends sqlite,postgresql] [--profile PATH]

Prints one JSON object keyed by database, with the turn's time breakdown read from the application's own
turn-phase histogram (``frontline_turn_phase_seconds``, see ``bot/engine/timing.py``). ``--profile`` also
writes cProfile statistics of the event loop's thread (worker threads — the embedder — are not in them).
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
from bot.engine.timing import PHASES
from core.db import execute_autocommit
from core.migrate import upgrade
from core.models import Direction, Message
from core.web.keys import METRICS, SESSIONS
from core.web.metrics import Metrics
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


def phase_totals(metrics: Metrics) -> dict[str, tuple[float, float]]:
    """(observations, seconds) per phase of the turn-phase histogram the running application keeps."""
    totals: dict[str, list[float]] = {}
    for family in metrics.turn_phases.collect():
        for sample in family.samples:
            phase = sample.labels.get("phase")
            if phase is None:
                continue
            entry = totals.setdefault(phase, [0.0, 0.0])
            if sample.name.endswith("_count"):
                entry[0] = sample.value
            elif sample.name.endswith("_sum"):
                entry[1] = sample.value
    return {phase: (count, seconds) for phase, (count, seconds) in totals.items()}


def breakdown(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """Per phase of the measured turns: how often it ran, its mean and its time per turn, in ms.

    ``decide`` includes ``search`` and ``ticket``; ``outbox`` and ``delivery`` are per reply. The phases overlap in
    time across turns (many run at once), so they add up to more than the wall time.
    """
    turns = after.get("decide", (0.0, 0.0))[0] - before.get("decide", (0.0, 0.0))[0]
    result: dict[str, Any] = {}
    for phase in PHASES:
        count = after.get(phase, (0.0, 0.0))[0] - before.get(phase, (0.0, 0.0))[0]
        seconds = after.get(phase, (0.0, 0.0))[1] - before.get(phase, (0.0, 0.0))[1]
        if count <= 0:
            continue
        result[phase] = {
            "n": int(count),
            "mean_ms": round(seconds / count * 1000, 1),
            "per_turn_ms": round(seconds / turns * 1000, 1) if turns else None,
        }
    return result


async def run_backend(url: str, chats: int, messages: int, var: Path, profile: Path | None = None) -> dict[str, Any]:
    await asyncio.to_thread(upgrade, url)
    async with BotApiStandIn() as standin:
        stack = await start_stack(stack_settings(url, var, standin), standin)
        try:
            # Warm-up: one turn so lazy loading is not measured.
            await stack.say(1, "привет")
            phases_before = phase_totals(stack.app[METRICS])
            profiler = cProfile.Profile() if profile is not None else None
            if profiler is not None:
                profiler.enable()
            started = time.perf_counter()
            cpu_started = time.process_time()
            last = 0
            for round_ in range(messages):
                for chat in range(chats):
                    question = QUESTIONS[(chat + round_) % len(QUESTIONS)]
                    last = standin.push_update(standin.make_text_update(10_000 + chat, 10_000 + chat, question))
            await stack.settle(timeout=600, update_id=last, poll=0.5)  # a slow poll: it must not compete
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            if profiler is not None and profile is not None:
                profiler.disable()
                profiler.dump_stats(profile)
            phases = phase_totals(stack.app[METRICS])
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
                # This process's CPU time per message (all its threads; PostgreSQL's own work is not in it): on a
                # loaded machine a steadier figure than the wall clock.
                "cpu_ms_per_msg": round(cpu / total * 1000, 1),
                "messages": total,
                "answered": len(latencies),
                "chats": chats,
                "breakdown": breakdown(phases_before, phases),
            }
        finally:
            await stack.client.close()


def _profile(path: Path | None, backend: str) -> Path | None:
    return path.with_name(f"{path.name}.{backend}") if path is not None else None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=40)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the event loop's thread (PATH.<backend>)")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{var / 'bench.db'}"
                result["sqlite"] = await run_backend(
                    url, args.chats, args.messages, var, _profile(args.profile, backend)
                )
            elif backend == "postgresql":
                name = f"frontline_bench_{uuid.uuid4().hex[:8]}"
                await execute_autocommit(PG_ADMIN, f'CREATE DATABASE "{name}"')
                try:
                    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
                    result["postgresql"] = await run_backend(
                        url, args.chats, args.messages, var, _profile(args.profile, backend)
                    )
                finally:
                    await execute_autocommit(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
