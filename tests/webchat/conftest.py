"""A served Frontline and widget-like WebSocket clients for the web-chat tests."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.channels.web.keys import WEBCHAT
from bot.channels.web.sites import identity_signature
from bot.keys import DELIVERY
from core.models import DeliveryState, Direction, Message
from core.web.keys import SESSIONS
from standin.stack import Stack
from tests.support.databases import BACKENDS
from tests.support.stacks import backend_url, running_stack

DEMO_SECRET = "demo-site-secret-change-me-0123456789"  # data/webchat.yml
_cids = itertools.count(1)


def new_cid() -> str:
    return f"cid-{time.time_ns()}-{next(_cids)}"


def signed_user(user_id: str, ts: int | None = None, secret: str = DEMO_SECRET) -> dict[str, Any]:
    moment = int(time.time()) if ts is None else ts
    return {"id": user_id, "ts": moment, "sig": identity_signature(secret, user_id, moment)}


class Widget:
    """What the widget does on the wire: hello, messages with client ids, acks of replies."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.token = ""
        self.conversation = 0
        self.seq = 0

    async def recv(self, timeout: float = 30.0) -> dict[str, Any]:
        frame = json.loads(await self.ws.receive_str(timeout=timeout))
        self.frames.append(frame)
        if frame["type"] == "message":
            self.conversation = frame["conversation"]
            self.seq = max(self.seq, frame["seq"])
        return dict(frame)

    async def until(self, want: Callable[[dict[str, Any]], bool], timeout: float = 60.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                if want(frame):
                    return frame

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def hello(self, **fields: Any) -> dict[str, Any]:
        await self.send({"type": "hello", **fields})
        welcome = await self.until(lambda f: f["type"] in ("welcome",))
        self.token = welcome["token"]
        return welcome

    async def say(self, text: str, cid: str | None = None) -> dict[str, Any]:
        """Send a message; the frame the server shows it back with (stored, numbered)."""
        cid = cid or new_cid()
        await self.send({"type": "message", "cid": cid, "text": text})
        return await self.until(lambda f: f.get("cid") == cid)

    async def close(self) -> None:
        await self.ws.close()


class Chat:
    """The running stack plus helpers to open widget sockets against it."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.origin = stack.url.rstrip("/")

    async def connect(self, site: str = "demo", origin: str | None = None) -> Widget:
        ws = await self.stack.client.ws_connect(
            f"/ws/chat?site={site}", headers={"Origin": origin or self.origin}, autoping=True
        )
        return Widget(ws)

    async def widget(self, **hello: Any) -> Widget:
        widget = await self.connect()
        await widget.hello(**hello)
        return widget

    async def settle(self, timeout: float = 30.0) -> None:
        """Every stored message handled and no reply waiting in the outbox for a connected visitor."""
        app = self.stack.app
        async with asyncio.timeout(timeout):
            while True:
                await app[WEBCHAT].drain()
                async with app[SESSIONS]() as session:
                    busy = await session.scalar(
                        select(func.count())
                        .select_from(Message)
                        .where((Message.direction == Direction.INBOUND) & Message.handled_at.is_(None))
                    )
                if not busy:
                    return
                app[DELIVERY].wake()
                await asyncio.sleep(0.05)

    async def replies(self, widget: Widget, said: dict[str, Any], timeout: float = 60.0) -> list[dict[str, Any]]:
        """The bot's replies to a message the widget ``said``, as the widget receives them (acknowledged)."""
        await self.settle(timeout)
        stored = await self.rows(
            Message.conversation_id == said["conversation"],
            Message.direction == Direction.OUTBOUND,
            Message.seq > said["seq"],
        )
        wanted = {m.seq for m in stored if not m.private}
        got: dict[int, dict[str, Any]] = {}
        for frame in widget.frames:
            if frame["type"] == "message" and frame["conversation"] == said["conversation"] and frame["seq"] in wanted:
                got[frame["seq"]] = frame
        if got:
            await widget.send({"type": "ack", "conversation": said["conversation"], "seqs": sorted(got)})
        async with asyncio.timeout(timeout):
            while set(got) < wanted:
                frame = await widget.recv(timeout)
                if frame["type"] == "message" and frame["seq"] in wanted:
                    got[frame["seq"]] = frame
                    # The outbox sends a conversation's next reply once the previous one is acknowledged.
                    await widget.send({"type": "ack", "conversation": said["conversation"], "seqs": [frame["seq"]]})
        return [got[seq] for seq in sorted(wanted)]

    async def rows(self, *where: Any) -> list[Message]:
        async with self.stack.app[SESSIONS]() as session:
            return list((await session.execute(select(Message).where(*where).order_by(Message.id))).scalars())

    async def delivered(self, conversation_id: int, timeout: float = 30.0) -> dict[int, DeliveryState]:
        """The replies' states once none is pending or being sent any more (an ack is recorded after it arrives)."""
        in_flight = {DeliveryState.PENDING, DeliveryState.SENDING}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while in_flight & set((await self.states(conversation_id)).values()):
                    await asyncio.sleep(0.05)
        return await self.states(conversation_id)

    async def states(self, conversation_id: int) -> dict[int, DeliveryState]:
        rows = await self.rows(Message.conversation_id == conversation_id, Message.direction == Direction.OUTBOUND)
        return {m.seq: m.delivery_state for m in rows}


@pytest_asyncio.fixture(scope="package", loop_scope="package", params=BACKENDS)
async def chat(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Chat]:
    async with running_stack(backend_url(request), tmp_path_factory.mktemp("var")) as running:
        yield Chat(running)
