"""A scripted web-chat visitor on a real WebSocket, for the crash tests and the soak bench.

It does on the wire what the widget does (``frontend/src/widget/``): ``hello`` with its visitor token and the
last message number it has shown, messages under client ids (resent under the same id after a reconnect, so the
server stores them once), an ``ack`` for every reply it shows, and a reconnect — to whichever worker comes next,
as behind a load balancer — whenever its socket closes. Like the widget it shows a message once per number,
however often the server sends it; what it was sent is kept for the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import ClientError, ClientSession, ClientWebSocketResponse, WSMsgType

ECHO_TIMEOUT = 20.0  # seconds to wait for a message to be shown back (stored) before resending it


class WebVisitor:
    """One visitor: one socket at a time, to the worker ``pick()`` names when it (re)connects."""

    def __init__(self, http: ClientSession, pick: Callable[[], str], site: str = "demo", lang: str = "ru") -> None:
        self.http = http
        self.pick = pick
        self.site = site
        self.lang = lang
        self.token: str | None = None
        self.vid: str | None = None
        self.conversation: int | None = None
        self.shown: dict[int, dict[str, Any]] = {}  # number → the frame, as the widget shows it
        self.receipts: Counter[int] = Counter()  # number → how many times it was sent to this visitor
        self.sent: dict[str, str] = {}  # client id → text
        self.reconnects = 0
        self.worker = ""
        self._ws: ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._echoes: dict[str, asyncio.Event] = {}
        self._welcomed = asyncio.Event()
        self._closed = False
        self._reconnecting = asyncio.Lock()  # the reader and a sender may both notice a closed socket
        self._resume: asyncio.Task[Any] | None = None

    @property
    def last_seq(self) -> int:
        return max(self.shown, default=0)

    def replies(self) -> dict[int, dict[str, Any]]:
        """What the visitor was shown that the desk wrote (bot, operator, system)."""
        return {seq: f for seq, f in self.shown.items() if f.get("author") != "customer"}

    async def connect(self) -> None:
        """Open a socket to the next worker and say hello: the server resumes after the last number shown."""
        for attempt in range(200):
            url = self.pick()
            try:
                ws = await self.http.ws_connect(
                    f"{url}/ws/chat?site={self.site}", headers={"Origin": url}, heartbeat=10
                )
            except (OSError, ClientError, TimeoutError):
                await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))
                continue
            self._ws, self.worker = ws, url
            self._welcomed.clear()
            self._reader = asyncio.create_task(self._read(ws))
            hello: dict[str, Any] = {"type": "hello", "lang": self.lang}
            if self.token:
                hello.update(token=self.token, seq=self.last_seq)
                if self.conversation:
                    hello["conversation"] = self.conversation
            try:
                await ws.send_str(json.dumps(hello))
                async with asyncio.timeout(15):
                    await self._welcomed.wait()
                return
            except (OSError, ClientError, TimeoutError, ConnectionError):
                await self._drop()
        raise RuntimeError("the visitor could not reach any worker")

    async def hop(self) -> None:
        """Leave this worker (a page reload, a phone changing networks) and come back through another one."""
        async with self._reconnecting:
            await self._drop()
            self.reconnects += 1
            await self.connect()

    async def say(self, text: str) -> None:
        """Send a message and wait until the server shows it back stored; resend under the same id if cut."""
        cid = f"soak-{uuid.uuid4().hex[:20]}"
        self.sent[cid] = text
        echoed = self._echoes[cid] = asyncio.Event()
        frame = json.dumps({"type": "message", "cid": cid, "text": text})
        while not echoed.is_set():
            ws = await self._socket()
            try:
                await ws.send_str(frame)
                async with asyncio.timeout(ECHO_TIMEOUT):
                    await echoed.wait()
            except (OSError, ClientError, ConnectionError, RuntimeError):
                await asyncio.sleep(0.2)
            except TimeoutError:
                pass  # stored or not, a resend under the same id is stored once

    async def close(self) -> None:
        self._closed = True
        if self._resume is not None:
            self._resume.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._resume
        await self._drop()

    async def _socket(self) -> ClientWebSocketResponse:
        async with self._reconnecting:
            if self._ws is None or self._ws.closed:
                await self._drop()
                self.reconnects += 1
                await self.connect()
            assert self._ws is not None
            return self._ws

    async def _drop(self) -> None:
        ws, reader = self._ws, self._reader
        self._ws = self._reader = None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _read(self, ws: ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            await self._frame(ws, json.loads(msg.data))
        if not self._closed and self._ws is ws:
            # The worker went away (killed, restarted): reconnect at once, as the widget does.
            self._resume = asyncio.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        with contextlib.suppress(RuntimeError):
            await self._socket()

    async def _frame(self, ws: ClientWebSocketResponse, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "welcome":
            self.token = str(frame["token"])
            self._welcomed.set()
        elif kind == "message":
            seq = int(frame["seq"])
            self.conversation = int(frame["conversation"])
            self.receipts[seq] += 1
            self.shown.setdefault(seq, frame)
            cid = frame.get("cid")
            if isinstance(cid, str) and cid in self._echoes:
                self._echoes[cid].set()
            if frame.get("author") != "customer":
                with contextlib.suppress(Exception):
                    await ws.send_str(json.dumps({"type": "ack", "conversation": self.conversation, "seqs": [seq]}))
        elif kind == "error" and frame.get("code") == "rate_limited":
            cid = frame.get("cid")
            if isinstance(cid, str) and cid in self._echoes:
                await asyncio.sleep(float(frame.get("retry_after", 1)))
                with contextlib.suppress(Exception):
                    await ws.send_str(json.dumps({"type": "message", "cid": cid, "text": self.sent[cid]}))
