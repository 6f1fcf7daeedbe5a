"""The help center under readers: article pages and search pages, 50 concurrent readers, 1,000 articles.

The server is the one that ships — ``frontline serve`` in its own process, on a scratch database — and
this process is only the readers: each reader opens an article or runs a search (half and half by
default), reads the whole page, and goes on at once. Reported: p50/p95 latency per page kind and the
requests per second the server sustained.

The 1,000 published articles are the demo knowledge base (data/kb, ru + en) repeated with numbered slugs
and titles until there are enough: real article text and length, a synthetic count. Search questions are
the demo articles' own question variants (``--set questions=PATH`` takes a YAML list of strings instead).

    .venv/bin/python bench/helpcenter.py [--readers 50] [--seconds 30] [--articles 1000]
                                         [--database sqlite|postgresql] [--search-share 0.5]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import numpy as np
import yaml

from core.db import create_engine, execute_autocommit, session_factory
from core.events import InProcessBus
from core.migrate import upgrade
from core.settings import ROOT
from core.uow import UnitOfWork
from kb.articles import import_articles
from kb.importer import parse_path
from kb.schemas import ArticleContent
from kb.service import ensure_vectors
from nlu.embedding import shared_embedder

PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
WARM_UP_S = 10.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (Linux /proc), for a figure a busy machine does not skew."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else 0.0


def articles(count: int) -> list[ArticleContent]:
    """``count`` published articles: the demo ones, then numbered copies of them."""
    demo = [a for a in parse_path(ROOT / "data" / "kb") if a.status.value == "published"]
    out: list[ArticleContent] = []
    round_ = 0
    while len(out) < count:
        for article in demo:
            if len(out) >= count:
                break
            if round_ == 0:
                out.append(article)
            else:
                out.append(
                    article.model_copy(
                        update={"slug": f"{article.slug}-{round_}", "title": f"{article.title} ({round_})"}
                    )
                )
        round_ += 1
    return out


async def prepare(url: str, count: int, embedding: str) -> list[tuple[str, str]]:
    """Migrate, import the articles with their vectors (as ``kb import`` does); their (language, slug)s."""
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    try:
        factory = session_factory(engine)
        contents = articles(count)
        async with UnitOfWork(factory, InProcessBus()) as uow:
            await import_articles(uow, contents, None, note="bench")
        embedder = await asyncio.to_thread(shared_embedder, embedding, 1)
        await ensure_vectors(factory, embedder)
    finally:
        await engine.dispose()
    return [(a.language, a.slug) for a in contents]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(base: str, probe: str) -> None:
    """Until the server answers and its search index holds the articles (the probe finds its answer)."""
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{base}/help/ru/search?q={quote(probe)}") as response:
                    if response.status == 200 and 'data-band="answer"' in await response.text():
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(1)


async def reader(
    http: aiohttp.ClientSession,
    base: str,
    pages: list[tuple[str, str]],
    questions: list[tuple[str, str]],
    share: float,
    until: float,
    seed: int,
    times: dict[str, list[float]],
    errors: list[str],
) -> None:
    rng = random.Random(seed)
    while time.perf_counter() < until:
        if rng.random() < share:
            kind = "search"
            language, question = rng.choice(questions)
            path = f"/help/{language}/search?q={quote(question)}"
        else:
            kind = "article"
            language, slug = rng.choice(pages)
            path = f"/help/{language}/{slug}"
        started = time.perf_counter()
        try:
            async with http.get(base + path) as response:
                await response.read()
                if response.status != 200:
                    errors.append(f"{response.status} {path}")
                    continue
        except aiohttp.ClientError as exc:
            errors.append(f"{type(exc).__name__} {path}")
            continue
        times[kind].append((time.perf_counter() - started) * 1000)


async def measure(
    base: str, args: argparse.Namespace, pages: list[tuple[str, str]], questions: list[tuple[str, str]], pid: int
) -> dict[str, Any]:
    times: dict[str, list[float]] = {"article": [], "search": []}
    errors: list[str] = []
    share = args.search_share
    connector = aiohttp.TCPConnector(limit=args.readers)
    async with aiohttp.ClientSession(connector=connector) as http:
        # Warm-up, not measured: first-use costs, and the index finishing loading the last articles.
        warm: dict[str, list[float]] = {"article": [], "search": []}
        until = time.perf_counter() + WARM_UP_S
        await asyncio.gather(
            *(reader(http, base, pages, questions, share, until, 1000 + i, warm, []) for i in range(4))
        )
        load = os.getloadavg()[0]
        cpu = cpu_seconds(pid)
        started = time.perf_counter()
        until = started + args.seconds
        await asyncio.gather(
            *(reader(http, base, pages, questions, share, until, i, times, errors) for i in range(args.readers))
        )
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu

    def summary(kind: str) -> dict[str, float]:
        return {"p50": percentile(times[kind], 50), "p95": percentile(times[kind], 95), "count": len(times[kind])}

    done = len(times["article"]) + len(times["search"])
    return {
        "article_page_ms": summary("article"),
        "search_page_ms": summary("search"),
        "requests_per_s": round(done / elapsed, 1),
        # The server's own CPU per page served: comparable across runs however busy the machine is.
        "server_cpu_ms_per_request": round(cpu * 1000 / done, 1) if done else None,
        "load_average_1m": {"before": round(load, 1), "after": round(os.getloadavg()[0], 1)},
        "cores": os.cpu_count(),
        "errors": len(errors),
        "error_examples": errors[:5],
    }


def demo_questions(path: Path | None) -> list[tuple[str, str]]:
    if path is not None:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        return [("ru" if any("а" <= ch <= "я" for ch in q.lower()) else "en", str(q)) for q in loaded]
    return [(a.language, q) for a in parse_path(ROOT / "data" / "kb") for q in a.questions]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--search-share", type=float, default=0.5, help="share of readers' requests that search")
    parser.add_argument("--embedding", default="use", help="FRONTLINE_EMBEDDING_MODEL of the server")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=PATH", help="questions=PATH (a YAML list)")
    args = parser.parse_args()
    sets = dict(item.split("=", 1) for item in args.set)
    questions = demo_questions(Path(sets["questions"]) if "questions" in sets else None)

    with tempfile.TemporaryDirectory(prefix="bench-help-") as tmp:
        var = Path(tmp)
        if args.database == "sqlite":
            url = f"sqlite+aiosqlite:///{var / 'help.db'}"
        else:
            name = f"bench_help_{uuid.uuid4().hex[:8]}"
            await execute_autocommit(PG_ADMIN, f'CREATE DATABASE "{name}"')
            url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        server: asyncio.subprocess.Process | None = None
        try:
            prepared = time.perf_counter()
            pages = await prepare(url, args.articles, args.embedding)
            prepare_s = time.perf_counter() - prepared
            port = free_port()
            env = {
                **os.environ,
                "FRONTLINE_DATABASE_URL": url,
                "FRONTLINE_VAR_DIR": str(var),
                "FRONTLINE_PORT": str(port),
                "FRONTLINE_HOST": "127.0.0.1",
                "FRONTLINE_SECRET_KEY": "bench-secret-key",
                "FRONTLINE_EMBEDDING_MODEL": args.embedding,
                "FRONTLINE_LOG_LEVEL": "WARNING",
            }
            env.pop("FRONTLINE_TELEGRAM_TOKEN", None)
            frontline = Path(sys.executable).parent / "frontline"
            # The NLU model is trained (and cached in the var dir) first, as a deployment's first start would
            # have done: training at the server's start would compete with the readers.
            trained = await asyncio.create_subprocess_exec(
                str(frontline),
                "nlu",
                "train",
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            await trained.wait()
            server = await asyncio.create_subprocess_exec(
                str(frontline), "serve", env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
            )
            base = f"http://127.0.0.1:{port}"
            async with asyncio.timeout(600):
                await wait_ready(base, "как поменять пароль от вайфая")
            result = await measure(base, args, pages, questions, server.pid)
        finally:
            if server is not None and server.returncode is None:
                server.send_signal(signal.SIGINT)
                try:
                    async with asyncio.timeout(30):
                        await server.wait()
                except TimeoutError:
                    server.kill()
                    await server.wait()
            if args.database == "postgresql":
                await execute_autocommit(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(
        json.dumps(
            {
                "bench": "helpcenter",
                "database": args.database,
                "articles": args.articles,
                "readers": args.readers,
                "seconds": args.seconds,
                "search_share": args.search_share,
                "embedding": args.embedding,
                "server": "frontline serve, one process",
                "prepare_s": round(prepare_s, 1),
                **result,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
