"""The inbox's live stream and typing, over HTTP: a stream ends with its session, and typing crosses workers.

A live stream outlives the access check of the request that opened it, so it re-checks its session and ends
with ``signed_out`` once the session is signed out or has expired. Typing is relayed, never stored: the
holder's typing reaches the visitor's widget and the visitor's typing reaches the inbox tabs, through the
event bus — here two workers joined only by real Redis.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from bot.app import create_app
from core.models import Conversation, ConversationStatus, Operator, StaffSession, utcnow
from core.web.keys import SESSIONS
from standin.stack import Stack, stack_settings
from tests.support.databases import BACKENDS
from tests.support.stacks import backend_url, running_stack
from tests.support.staff import DEMO_LOGINS, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")
WAIT = 30.0  # the stream re-checks its session every few seconds; this only bounds a broken test


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with running_stack(backend_url(request), tmp_path_factory.mktemp("var")) as running:
        yield running


async def read_until(events: aiohttp.ClientResponse, want: Callable[[bytes], bool]) -> list[bytes]:
    seen: list[bytes] = []
    async with asyncio.timeout(WAIT):
        while not seen or not want(seen[-1]):
            seen.append(await events.content.readuntil(b"\n\n"))
    return seen


async def open_stream(client: TestClient[Any, Any]) -> aiohttp.ClientResponse:
    events = await client.get("/inbox/events")
    assert events.status == 200
    await read_until(events, lambda frame: b"event: hello" in frame)
    return events


async def test_the_live_stream_ends_when_its_session_is_signed_out(stack: Stack) -> None:
    client = stack.client
    client.session.cookie_jar.clear()
    csrf = await sign_in(client, "operator")
    events = await open_stream(client)
    signed_out = await client.post("/logout", headers={"X-CSRF-Token": csrf}, allow_redirects=False)
    assert signed_out.status == 302
    await read_until(events, lambda frame: b"event: signed_out" in frame)
    assert await asyncio.wait_for(events.content.read(), WAIT) == b"", "the stream ends after signed_out"
    again = await client.get("/inbox/events", headers={"Accept": "application/json"}, allow_redirects=False)
    assert again.status == 401


async def test_the_live_stream_ends_when_its_session_expires(stack: Stack) -> None:
    client = stack.client
    client.session.cookie_jar.clear()
    await sign_in(client, "editor")
    events = await open_stream(client)
    async with stack.app[SESSIONS]() as session, session.begin():
        editor = await session.scalar(select(Operator.id).where(Operator.login == DEMO_LOGINS["editor"][0]))
        await session.execute(
            update(StaffSession)
            .where(StaffSession.operator_id == editor)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    await read_until(events, lambda frame: b"event: signed_out" in frame)
    assert await asyncio.wait_for(events.content.read(), WAIT) == b""
    client.session.cookie_jar.clear()


async def status_of(stack: Stack, conversation_id: int) -> ConversationStatus:
    async with stack.app[SESSIONS]() as session:
        return (await session.get_one(Conversation, conversation_id)).status


class Widget:
    """The widget's side of the socket: hello, a message, typing frames."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def until(self, want: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async with asyncio.timeout(WAIT):
            while True:
                frame: dict[str, Any] = json.loads(await self.ws.receive_str())
                if want(frame):
                    return frame


async def test_typing_crosses_workers_both_ways_and_only_the_holder_is_announced(
    postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The visitor's widget is on worker A, the operator's inbox tab on worker B; only Redis joins them."""
    async with running_stack(postgres_url, tmp_path_factory.mktemp("a"), redis_url=redis_url) as worker_a:
        settings_b = stack_settings(
            postgres_url, tmp_path_factory.mktemp("b"), worker_a.standin, redis_url=redis_url, telegram_token=None
        )
        worker_b: TestClient[Any, Any] = TestClient(TestServer(create_app(settings_b)))
        await worker_b.start_server()
        try:
            ws = await worker_a.client.ws_connect("/ws/chat?site=demo", headers={"Origin": worker_a.url.rstrip("/")})
            widget = Widget(ws)
            await widget.send({"type": "hello", "lang": "ru"})
            await widget.until(lambda f: f["type"] == "welcome")
            await widget.send({"type": "message", "cid": "typing-test-0001", "text": "позовите оператора"})
            shown = await widget.until(lambda f: f["type"] == "message" and f.get("cid") == "typing-test-0001")
            conversation_id = int(shown["conversation"])
            # Handed off. Read from the database, not from the widget: the bot's reply may be taken by worker B's
            # outbox, which has no socket for this visitor and leaves it for a later attempt.
            async with asyncio.timeout(WAIT):
                while await status_of(worker_a, conversation_id) is not ConversationStatus.WAITING:
                    await asyncio.sleep(0.1)

            csrf = await sign_in(worker_b, "operator")
            headers = {"X-CSRF-Token": csrf}
            events = await open_stream(worker_b)
            url = f"/api/inbox/conversations/{conversation_id}/typing"
            refused = await worker_b.post(url, json={"on": True}, headers=headers)
            assert refused.status == 409, "only the holder's typing is shown to the customer"
            bad = await worker_b.post(url, json={"on": "<b>yes</b>"}, headers=headers)
            assert bad.status == 422
            taken = await worker_b.post(f"/api/inbox/conversations/{conversation_id}/take", headers=headers)
            assert taken.status == 200, await taken.text()

            assert (await worker_b.post(url, json={"on": True}, headers=headers)).status == 200
            typing = await widget.until(lambda f: f["type"] == "typing" and "operator" in f)
            async with worker_a.app[SESSIONS]() as session:
                name = await session.scalar(select(Operator.name).where(Operator.login == DEMO_LOGINS["operator"][0]))
            assert typing == {"type": "typing", "on": True, "operator": name}
            assert (await worker_b.post(url, json={"on": False}, headers=headers)).status == 200
            stopped = await widget.until(lambda f: f["type"] == "typing" and "operator" in f)
            assert stopped["on"] is False

            await widget.send({"type": "typing", "on": True})
            seen = await read_until(events, lambda frame: b"event: conversation.typing" in frame)
            data = json.loads(seen[-1].split(b"data: ", 1)[1])
            assert data == {"conversation_id": conversation_id, "by": "customer", "on": True}
            await widget.send({"type": "typing", "on": False})
            seen = await read_until(events, lambda frame: b"event: conversation.typing" in frame)
            assert json.loads(seen[-1].split(b"data: ", 1)[1])["on"] is False
            events.close()
            await ws.close()
        finally:
            await worker_b.close()
