"""Web replies with two workers sharing PostgreSQL and Redis: the worker whose outbox claims a reply is not
always the one holding the visitor's socket.

Two applications in this process, each with its own server, database pool and Redis bus, like two
``frontline serve`` workers. Only the first runs the outbox (the second's is stopped), while the visitor's
socket is on the second: every web reply is claimed by a worker that does not hold it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.demo import load_demo
from bot.keys import DELIVERY
from core.db import create_engine, session_factory
from core.models import DeliveryState, Direction, Message
from core.settings import Settings
from core.web.keys import SESSIONS
from tests.support.databases import empty_tables
from tests.webchat.conftest import Widget

QUESTION = "как поменять пароль от вайфая?"


@dataclass
class Worker:
    app: web.Application
    client: TestClient[Any, Any]

    @property
    def url(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    async def widget(self, **hello: Any) -> Widget:
        ws = await self.client.ws_connect("/ws/chat?site=demo", headers={"Origin": self.url}, autoping=True)
        widget = Widget(ws)
        await widget.hello(**hello)
        return widget

    async def replies(self, conversation_id: int, after: int) -> list[Message]:
        """The public replies stored after number ``after``, once the visitor's turn is over."""
        async with self.app[SESSIONS]() as session:
            rows = (
                await session.execute(
                    select(Message)
                    .where(Message.conversation_id == conversation_id, Message.seq > after)
                    .order_by(Message.seq)
                )
            ).scalars()
            return [m for m in rows if m.direction is Direction.OUTBOUND and not m.private]


def settings(db_url: str, redis_url: str, var_dir: Path) -> Settings:
    return Settings(
        database_url=db_url,
        var_dir=var_dir,
        secret_key="test-secret-key-not-for-production",  # type: ignore[arg-type]
        redis_url=redis_url,
        telegram_token=None,
        _env_file=None,  # type: ignore[call-arg]
    )


@asynccontextmanager
async def serving(config: Settings) -> AsyncIterator[Worker]:
    app = create_app(config)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Worker(app, client)
    finally:
        await client.close()


@pytest.fixture
async def workers(postgres_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[Worker, Worker]]:
    """The first worker delivers the outbox; the second holds the sockets and runs no outbox."""
    engine = create_engine(postgres_url)
    try:
        await empty_tables(engine)
        await load_demo(session_factory(engine), settings(postgres_url, redis_url, tmp_path / "var0"))
    finally:
        await engine.dispose()
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(serving(settings(postgres_url, redis_url, tmp_path / "var0")))
        second = await stack.enter_async_context(serving(settings(postgres_url, redis_url, tmp_path / "var1")))
        await second.app[DELIVERY].stop()
        yield first, second


async def test_web_reply_claimed_by_another_worker_reaches_the_visitor(workers: tuple[Worker, Worker]) -> None:
    first, second = workers
    widget = await second.widget(lang="ru")
    said = await widget.say(QUESTION)
    conversation = said["conversation"]
    received: Counter[int] = Counter()
    async with asyncio.timeout(90):
        while True:
            replies = await first.replies(conversation, said["seq"])
            states = {m.seq: m.delivery_state for m in replies}
            if replies and set(received) >= set(states) and set(states.values()) == {DeliveryState.SENT}:
                break
            try:
                frame = await widget.recv(timeout=1)
            except TimeoutError:
                continue
            if frame["type"] == "message" and frame["author"] != "customer":
                received[frame["seq"]] += 1
                # As the widget does: the outbox sends a conversation's next reply once this one is acknowledged.
                await widget.send({"type": "ack", "conversation": conversation, "seqs": [frame["seq"]]})
    answer = next(m for m in replies if "пароль" in m.text.lower())
    assert answer.seq in received, "the visitor was shown the answer to the question"
    assert received == Counter({m.seq: 1 for m in replies}), "every reply reached the visitor exactly once"
    await widget.close()


async def test_web_reply_for_a_visitor_with_no_socket_anywhere_waits_for_the_next_hello(
    workers: tuple[Worker, Worker],
) -> None:
    first, second = workers
    widget = await second.widget(lang="ru")
    said = await widget.say(QUESTION)
    conversation, token = said["conversation"], widget.token
    await widget.close()  # gone before the bot answers
    async with asyncio.timeout(90):  # the turn is taken and the first worker has tried the first reply
        while not any(m.last_error for m in await first.replies(conversation, said["seq"])):
            await asyncio.sleep(0.1)
    replies = await first.replies(conversation, said["seq"])
    assert {m.delivery_state for m in replies} == {DeliveryState.PENDING}, "kept for the visitor's return"
    assert [m.last_error for m in replies if m.last_error] == ["the visitor has no widget open"]
    back = await second.widget(token=token, conversation=conversation, seq=said["seq"])
    shown: dict[int, dict[str, Any]] = {}
    async with asyncio.timeout(60):
        while len(shown) < len(replies):
            frame = await back.until(lambda f: f["type"] == "message")
            shown[frame["seq"]] = frame
    assert sorted(shown) == [m.seq for m in replies], "the next hello catches up every reply"
    await back.send({"type": "ack", "conversation": conversation, "seqs": sorted(shown)})
    async with asyncio.timeout(30):
        while {m.delivery_state for m in await first.replies(conversation, said["seq"])} != {DeliveryState.SENT}:
            await asyncio.sleep(0.1)
    await back.close()
