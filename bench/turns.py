"""Conversation turns through the real aiogram stack and the Bot API stand-in, per database.

Many customers write at once; each message goes update → poller → store → NLU → knowledge base →
reply stored → delivered. Reported: latency from the inbound message stored to its first reply stored
(from the database's own timestamps), and sustained throughput (messages answered per second).

    .venv/bin/python bench/turns.py [--chats 40] [--messages 10] [--backends sqlite,postgresql] [--profile PATH]
                                    [--standin process|inline]

The application (the whole stack, one process: this one) talks to the Bot API stand-in over loopback. By default
the stand-in runs in a process of its own (``standin/remote.py``): Telegram's work of answering ``getUpdates``
and ``sendMessage`` is not ours in production, and in this process it took CPU and event-loop turns from the
application being measured. ``--standin inline`` runs it in this process as before (figures measured before
the split were measured that way); the output says which (``standin``).

Prints one JSON object keyed by database, with the turn's time breakdown read from the application's own
turn-phase histogram (``frontline_turn_phase_seconds``, see ``bot/engine/timing.py``). ``cpu_ms_per_msg`` is
this process's CPU (application and bench; with ``--standin inline`` the stand-in's too), ``standin_cpu_ms_per_msg``
the stand-in process's. ``--profile`` also writes cProfile statistics of the event loop's thread (worker
threads — the embedder — are not in them).
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

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bench._stats import percentiles
from bot.app import create_app
from bot.demo import load_demo
from bot.engine.timing import PHASES
from bot.keys import DELIVERY, TELEGRAM
from core.db import create_engine, execute_autocommit, session_factory
from core.migrate import upgrade
from core.models import Direction, Message
from core.web.keys import METRICS, SESSIONS
from core.web.metrics import Metrics
from standin.remote import LocalStandIn, RemoteStandIn
from standin.stack import stack_settings, unsettled

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


async def settle(app: web.Application, side: Any, update_id: int, patience: float, poll: float) -> None:
    """Wait until the poller took every update up to ``update_id``, every message is handled and every reply sent."""
    async with asyncio.timeout(patience):
        while True:
            if int((await side.state())["offset"]) > update_id:
                break
            await asyncio.sleep(poll)
        while True:
            await app[TELEGRAM].drain()
            busy = await unsettled(app)
            if not busy and not (await side.state())["pending"]:
                return
            app[DELIVERY].wake()
            await asyncio.sleep(poll)


async def run_backend(
    url: str, chats: int, messages: int, var: Path, profile: Path | None = None, standin: str = "process"
) -> dict[str, Any]:
    await asyncio.to_thread(upgrade, url)
    async with RemoteStandIn() if standin == "process" else LocalStandIn() as side:
        settings = stack_settings(url, var, side)  # type: ignore[arg-type]  # it reads the stand-in's url only
        engine = create_engine(url)
        try:
            await load_demo(session_factory(engine), settings)
        finally:
            await engine.dispose()
        app = create_app(settings)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        await side.wait_polling_started(timeout=30)
        try:
            # Warm-up: one turn so lazy loading is not measured.
            await settle(app, side, await side.push_texts([(1, "привет")]), patience=60, poll=0.05)
            phases_before = phase_totals(app[METRICS])
            side_cpu_started = (await side.state())["cpu_s"]
            profiler = cProfile.Profile() if profile is not None else None
            if profiler is not None:
                profiler.enable()
            started = time.perf_counter()
            cpu_started = time.process_time()
            texts = [
                (10_000 + chat, QUESTIONS[(chat + round_) % len(QUESTIONS)])
                for round_ in range(messages)
                for chat in range(chats)
            ]
            last = await side.push_texts(texts)
            await settle(app, side, last, patience=600, poll=0.5)  # a slow poll: it must not compete
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            side_cpu = (await side.state())["cpu_s"]
            if profiler is not None and profile is not None:
                profiler.disable()
                profiler.dump_stats(profile)
            phases = phase_totals(app[METRICS])
            latencies: list[float] = []
            async with app[SESSIONS]() as session:
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
                "standin_cpu_ms_per_msg": (
                    round((side_cpu - side_cpu_started) / total * 1000, 1) if side_cpu is not None else None
                ),
                "standin": standin,
                "messages": total,
                "answered": len(latencies),
                "chats": chats,
                "breakdown": breakdown(phases_before, phases),
            }
        finally:
            await client.close()


def _profile(path: Path | None, backend: str) -> Path | None:
    return path.with_name(f"{path.name}.{backend}") if path is not None else None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=40)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the event loop's thread (PATH.<backend>)")
    parser.add_argument(
        "--standin",
        choices=("process", "inline"),
        default="process",
        help="the Bot API stand-in in a process of its own (default) or in this one",
    )
    args = parser.parse_args()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{var / 'bench.db'}"
                result["sqlite"] = await run_backend(
                    url, args.chats, args.messages, var, _profile(args.profile, backend), args.standin
                )
            elif backend == "postgresql":
                name = f"frontline_bench_{uuid.uuid4().hex[:8]}"
                await execute_autocommit(PG_ADMIN, f'CREATE DATABASE "{name}"')
                try:
                    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
                    result["postgresql"] = await run_backend(
                        url, args.chats, args.messages, var, _profile(args.profile, backend), args.standin
                    )
                finally:
                    await execute_autocommit(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
