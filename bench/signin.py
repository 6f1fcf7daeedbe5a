"""Sign-in under attack: ``/healthz`` latency idle vs while wrong passwords arrive (issue 11, finding 1).

Serves ``frontline serve`` (SQLite in a temporary folder, one admin account) in a child process, then measures
``/healthz`` every 50 ms for ``--seconds`` in three phases:

* ``idle`` — nothing else;
* ``attack_one_address`` — 3 clients each send a wrong password 5 times a second from loopback (the issue's
  case; the per-address throttle answers most of them 429 without hashing);
* ``attack_spread`` — the same rate, but every attempt claims a new client address (X-Forwarded-For with
  ``FRONTLINE_TRUST_FORWARDED_FOR=1``) and a new unknown login, so no throttle applies and every attempt
  costs an argon2 hash: the worst case for the event loop.

Prints one JSON object: per phase the healthz p50/p95/max in ms and the sign-in answers by status.
Run: ``.venv/bin/python bench/signin.py [--seconds 15]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._stats import percentiles

ROOT = Path(__file__).resolve().parent.parent
FRONTLINE = str(Path(sys.executable).parent / "frontline")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _probe(base: str, seconds: float) -> list[float]:
    timings: list[float] = []
    async with aiohttp.ClientSession() as http:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.perf_counter()
            async with http.get(f"{base}/healthz") as response:
                await response.read()
            timings.append(time.perf_counter() - start)
            await asyncio.sleep(max(0.0, 0.05 - (time.perf_counter() - start)))
    return timings


async def _attacker(base: str, seconds: float, rate: float, spread: bool, n: int, answers: Counter[int]) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # keeps 127.0.0.1 cookies
        page = await (await http.get(f"{base}/login")).text()
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found, "the login page has a CSRF token"
        token = found.group(1)
        pending: set[asyncio.Task[None]] = set()
        end = time.monotonic() + seconds
        attempt = 0

        async def one(i: int) -> None:
            headers = {"X-Forwarded-For": f"10.{n}.{i // 250}.{i % 250 + 1}"} if spread else {}
            login = f"nobody-{n}-{i}" if spread else "admin"
            async with http.post(
                f"{base}/login",
                data={"login": login, "password": "wrong-password", "csrf_token": token},
                headers=headers,
                allow_redirects=False,
            ) as response:
                await response.read()
                answers[response.status] += 1

        while time.monotonic() < end:
            task = asyncio.create_task(one(attempt))  # at a fixed rate, answered or not (an attacker does not wait)
            pending.add(task)
            task.add_done_callback(pending.discard)
            attempt += 1
            await asyncio.sleep(1 / rate)
        if pending:
            await asyncio.wait(pending, timeout=60)


async def _phase(base: str, seconds: float, attackers: int, spread: bool) -> dict[str, Any]:
    answers: Counter[int] = Counter()
    tasks = [_attacker(base, seconds, 5.0, spread, n, answers) for n in range(attackers)]
    probe = asyncio.ensure_future(_probe(base, seconds))
    await asyncio.gather(probe, *tasks)
    timings = probe.result()
    return {
        **percentiles(timings, (50, 95), scale=1000),
        "max": round(max(timings) * 1000, 2),
        "probes": len(timings),
        "sign_in_answers": {str(k): v for k, v in sorted(answers.items())},
    }


async def _wait_ready(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        end = time.monotonic() + 120
        while time.monotonic() < end:
            try:
                async with http.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        port = _free_port()
        env = dict(
            os.environ,
            FRONTLINE_DATABASE_URL=f"sqlite+aiosqlite:///{folder}/bench.db",
            FRONTLINE_VAR_DIR=folder,
            FRONTLINE_PORT=str(port),
            FRONTLINE_SECRET_KEY="bench-secret-key",
            FRONTLINE_TRUST_FORWARDED_FOR="1",
            FRONTLINE_LOG_LEVEL="ERROR",
        )
        for command in (
            ["db", "upgrade"],
            ["operator", "add", "admin", "--role", "admin", "--password", "admin-password"],
        ):
            subprocess.run([FRONTLINE, *command], env=env, check=True, cwd=ROOT, capture_output=True)
        server = subprocess.Popen(
            [FRONTLINE, "serve"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(_wait_ready(base))
            result = {
                "bench": "signin",
                "seconds_per_phase": args.seconds,
                "attack": "3 clients x 5 wrong passwords/s",
                "idle": asyncio.run(_phase(base, args.seconds, 0, False)),
                "attack_one_address": asyncio.run(_phase(base, args.seconds, 3, False)),
                "attack_spread": asyncio.run(_phase(base, args.seconds, 3, True)),
                "cpus": os.cpu_count(),
            }
        finally:
            server.terminate()
            server.wait(timeout=30)
    idle = result["idle"]["p95"]
    result["p95_ratio_one_address"] = round(result["attack_one_address"]["p95"] / idle, 2)
    result["p95_ratio_spread"] = round(result["attack_spread"]["p95"] / idle, 2)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
