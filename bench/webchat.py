"""The web chat under reconnects: many visitors over loopback WebSockets, nothing lost, nothing duplicated.

    .venv/bin/python bench/webchat.py [--visitors 200] [--messages 3] [--drop 0.3] [--seed 1]

The whole application is served on loopback (SQLite scratch file, demo data, the real engine and outbox).
Every visitor behaves like the widget: hello with its token, messages with client ids kept in a queue until
the server shows them back, replies acknowledged as they arrive; at random moments (``--drop``) it drops
the socket right after sending, reconnects, resumes from the last number it saw and resends its queue.
At the end each visitor reconnects once more and catches up. Counted:

* ``lost``: client ids never stored, plus stored messages of a visitor's conversation it never received;
* ``duplicated``: client ids stored more than once, plus messages answered by more than one bot turn;
* reply latency: from sending a message to the first bot reply after it (only undisturbed sends).

Prints one JSON object (RSS is of this process: the server and the 200 clients share it).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from sqlalchemy import select

from bench._stats import percentiles
from bot.channels.web.keys import WEBCHAT
from core.migrate import upgrade
from core.models import Channel, Direction, Message
from core.settings import ROOT
from core.web.keys import SESSIONS
from standin.botapi import BotApiStandIn
from standin.stack import Stack, stack_settings, start_stack

QUESTIONS = [
    "здравствуйте",
    "как поменять пароль от вайфая?",
    "спасибо",
    "how do I change my wifi password?",
    "не работает интернет",
    "какой у меня тариф",
]


class Visitor:
    def __init__(self, index: int, url: str, origin: str, rng: random.Random, drop: float) -> None:
        self.index = index
        self.url = url
        self.origin = origin
        self.rng = rng
        self.drop = drop
        self.token: str | None = None
        self.conversation = 0
        self.seq = 0
        self.seen: dict[tuple[int, int], int] = {}  # (conversation, seq) → times received (wire duplicates are fine)
        self.queue: dict[str, str] = {}  # cid → text, until the server shows it back
        self.sent: list[str] = []
        self.latencies: list[float] = []
        self.reconnects = 0
        self.frames: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def cid(self, n: int) -> str:
        return f"bench-{self.index:04d}-{n:03d}-{self.rng.randrange(1 << 30):08x}"

    async def connect(self, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        ws = await http.ws_connect(f"{self.url}/ws/chat?site=demo", headers={"Origin": self.origin})
        hello: dict[str, Any] = {"type": "hello", "seq": self.seq}
        if self.token:
            hello["token"] = self.token
        if self.conversation:
            hello["conversation"] = self.conversation
        await ws.send_json(hello)
        return ws

    def take(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "welcome":
            self.token = frame["token"]
        if frame.get("type") != "message":
            return
        key = (frame["conversation"], frame["seq"])
        self.seen[key] = self.seen.get(key, 0) + 1
        if frame["conversation"] >= self.conversation:
            self.conversation = frame["conversation"]
            self.seq = max(self.seq, frame["seq"])
        if frame["author"] == "customer":
            self.queue.pop(frame.get("cid") or "", None)

    async def reader(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Like the widget: read every frame as it comes and acknowledge replies at once."""
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            self.take(frame)
            if frame.get("type") == "message" and frame["author"] != "customer":
                await ws.send_json({"type": "ack", "conversation": frame["conversation"], "seqs": [frame["seq"]]})
            self.frames.append(frame)
            self.changed.set()

    async def wait(self, until: Any, limit: float) -> bool:
        """Wait until ``until()`` holds; False after ``limit`` seconds."""
        try:
            async with asyncio.timeout(limit):
                while not until():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            return False
        return True

    async def open(self, http: aiohttp.ClientSession, limit: float) -> aiohttp.ClientWebSocketResponse:
        ws = await self.connect(http)
        self.frames.clear()
        self.task = asyncio.create_task(self.reader(ws))
        await self.wait(lambda: any(f.get("type") == "welcome" for f in self.frames), limit)
        for queued, queued_text in list(self.queue.items()):
            await ws.send_json({"type": "message", "cid": queued, "text": queued_text})
        return ws

    async def shut(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await ws.close()
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)

    async def run(self, http: aiohttp.ClientSession, messages: int, limit: float) -> None:
        ws = await self.open(http, limit)
        for n in range(messages):
            await asyncio.sleep(self.rng.uniform(0.0, 2.0))
            cid = self.cid(n)
            self.queue[cid] = self.rng.choice(QUESTIONS)
            self.sent.append(cid)
            self.frames.clear()
            started = time.perf_counter()
            await ws.send_json({"type": "message", "cid": cid, "text": self.queue[cid]})
            if self.rng.random() < self.drop:
                await self.shut(ws)  # gone right after sending: did it arrive? the resend decides
                self.reconnects += 1
                await asyncio.sleep(self.rng.uniform(0.0, 1.0))
                ws = await self.open(http, limit)
                continue

            def replied(cid: str = cid) -> bool:
                mine = next((f["seq"] for f in self.frames if f.get("type") == "message" and f.get("cid") == cid), None)
                return mine is not None and any(
                    f.get("type") == "message" and f["author"] != "customer" and f["seq"] > mine for f in self.frames
                )

            if await self.wait(replied, limit):
                self.latencies.append(time.perf_counter() - started)
        await self.shut(ws)

    async def finish(self, http: aiohttp.ClientSession, limit: float) -> None:
        """Come back once more: resend anything unconfirmed and catch up on everything after the last number."""
        ws = await self.open(http, limit)
        await ws.send_json({"type": "ping"})
        await self.wait(lambda: not self.queue and any(f.get("type") == "pong" for f in self.frames), limit)
        await self.shut(ws)


async def settle(stack: Stack, limit: float) -> None:
    async with asyncio.timeout(limit):
        while True:
            await stack.app[WEBCHAT].drain()
            async with stack.app[SESSIONS]() as session:
                left = await session.scalar(
                    select(Message.id)
                    .where(Message.direction == Direction.INBOUND, Message.handled_at.is_(None))
                    .limit(1)
                )
            if left is None:
                return
            await asyncio.sleep(0.2)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="bench-webchat-"))
    url = f"sqlite+aiosqlite:///{folder / 'frontline.db'}"
    upgrade(url)
    async with BotApiStandIn() as standin:
        stack = await start_stack(stack_settings(url, folder, standin), standin)
        base = stack.url.rstrip("/")
        visitors = [Visitor(i, base, base, random.Random(rng.random()), args.drop) for i in range(args.visitors)]
        started = time.perf_counter()
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(v.run(http, args.messages, args.timeout) for v in visitors))
            await settle(stack, args.timeout * 4)
            await asyncio.gather(*(v.finish(http, args.timeout) for v in visitors))
        elapsed = time.perf_counter() - started
        await settle(stack, args.timeout * 4)
        async with stack.app[SESSIONS]() as session:
            rows = list((await session.execute(select(Message).where(Message.channel == Channel.WEB))).scalars())
        await stack.client.close()
    inbound = Counter(m.channel_message_id for m in rows if m.direction is Direction.INBOUND)
    turns: dict[int, set[int]] = {}
    for m in rows:
        if m.direction is Direction.OUTBOUND and isinstance(m.meta.get("in_reply_to"), int):
            turns.setdefault(m.meta["in_reply_to"], set()).add(m.seq)
    by_conversation: dict[int, set[int]] = {}
    for m in rows:
        if not m.private:
            by_conversation.setdefault(m.conversation_id, set()).add(m.seq)
    sent = [cid for v in visitors for cid in v.sent]
    lost_stored = sum(1 for cid in sent if inbound[cid] == 0)
    lost_received = sum(
        len(seqs - {s for (c, s) in v.seen if c == conv})
        for v in visitors
        for conv, seqs in by_conversation.items()
        if any(c == conv for (c, _) in v.seen)
    )
    duplicated_stored = sum(count - 1 for count in inbound.values() if count > 1)
    # One turn answers a message with consecutive numbers; two turns for one message would leave a gap.
    duplicated_turns = sum(1 for seqs in turns.values() if max(seqs) - min(seqs) + 1 != len(seqs))
    widget = ROOT / "frontend" / "dist" / "widget.js"
    raw = widget.read_bytes() if widget.exists() else b""
    latencies = [x for v in visitors for x in v.latencies]
    return {
        "bench": "webchat",
        "visitors": args.visitors,
        "messages_per_visitor": args.messages,
        "drop_probability": args.drop,
        "sent": len(sent),
        "stored": sum(inbound.values()),
        "received_frames": sum(sum(v.seen.values()) for v in visitors),
        "replies": sum(1 for m in rows if m.direction is Direction.OUTBOUND),
        "reconnects": sum(v.reconnects for v in visitors),
        "lost": lost_stored + lost_received,
        "duplicated": duplicated_stored + duplicated_turns,
        "messages_per_s": round(len(sent) / elapsed, 2),
        "reply_latency_ms": percentiles(latencies, scale=1000, digits=0) if latencies else None,
        "elapsed_s": round(elapsed, 1),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "widget_js_bytes": len(raw),
        "widget_js_gzip_bytes": len(gzip.compress(raw, 9)) if raw else None,
        "database": "sqlite",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--drop", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0)
    print(json.dumps(asyncio.run(main(parser.parse_args())), ensure_ascii=False))
