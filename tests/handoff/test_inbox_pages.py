"""The inbox's pages and live stream over HTTP: who may open what, bad input, views and unread counts,
and live events crossing workers through real Redis.

The application runs with Telegram at the Bot API stand-in, once per database backend; each test is a
different customer (its own chat).
"""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from bot.app import create_app
from core.db import transaction
from core.models import Conversation, utcnow
from core.web.keys import SESSIONS
from handoff.models import OperatorPresence
from standin.botapi import BotApiStandIn
from standin.stack import Stack, stack_settings, start_stack
from tests.support.databases import BACKENDS
from tests.support.stacks import backend_url, running_stack
from tests.support.staff import sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")
_chats = itertools.count(61000)
PAGES = [
    "/inbox",
    "/inbox/list",
    "/inbox/conversations/{id}",
    "/inbox/conversations/{id}/thread",
    "/inbox/tickets",
    "/inbox/tickets/{number}",
]
ADMIN_PAGES = ["/inbox/canned"]


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with running_stack(backend_url(request), tmp_path_factory.mktemp("var")) as running:
        yield running


async def waiting_conversation(stack: Stack, text: str = "позовите оператора") -> tuple[int, int]:
    chat = next(_chats)
    await stack.say(chat, text)
    async with stack.app[SESSIONS]() as session:
        found = await session.scalar(
            select(Conversation.id).where(Conversation.chat_id == str(chat)).order_by(Conversation.id.desc()).limit(1)
        )
    assert found is not None
    return chat, int(found)


async def test_every_page_needs_staff_sign_in_and_every_role_may_open_it(stack: Stack) -> None:
    _chat, conversation_id = await waiting_conversation(stack)
    client = stack.client
    client.session.cookie_jar.clear()
    headers = {"X-CSRF-Token": await sign_in(client, "operator")}
    created = await client.post(
        f"/api/inbox/conversations/{conversation_id}/ticket", json={"description": "нет интернета"}, headers=headers
    )
    assert created.status == 201, await created.text()
    number = (await created.json())["number"]
    client.session.cookie_jar.clear()
    for template in [*PAGES, "/inbox/events"]:
        path = template.format(id=conversation_id, number=number)
        page = await client.get(path, allow_redirects=False, headers={"Accept": "text/html"})
        assert page.status == 302, path
        assert page.headers["Location"].startswith("/login?next=/inbox"), path
        api = await client.get(path, allow_redirects=False, headers={"Accept": "application/json"})
        assert api.status == 401, path
    for role in ("operator", "editor", "admin"):
        client.session.cookie_jar.clear()
        await sign_in(client, role)
        for template in PAGES:
            path = template.format(id=conversation_id, number=number)
            response = await client.get(path, allow_redirects=False)
            assert response.status == 200, (role, path)
            assert response.headers["Content-Type"].startswith("text/html")
        events = await client.get("/inbox/events")
        assert events.status == 200
        assert events.headers["Content-Type"] == "text/event-stream"
        assert b"event: hello" in await asyncio.wait_for(events.content.readuntil(b"}\n\n"), 10)
        events.close()
    for path in ADMIN_PAGES:
        for role, expected in (("operator", 403), ("editor", 403), ("admin", 200)):
            client.session.cookie_jar.clear()
            await sign_in(client, role)
            assert (await client.get(path, allow_redirects=False)).status == expected, (role, path)
        client.session.cookie_jar.clear()
        assert (await client.get(path, allow_redirects=False)).status == 302
        csrf = await sign_in(client, "operator")
        saved = await client.post(path, data={"csrf_token": csrf, "shortcut": "x", "language": "ru"})
        assert saved.status == 403, "an operator cannot change canned responses"
    client.session.cookie_jar.clear()


async def test_team_administration_is_for_admins_only(stack: Stack) -> None:
    client = stack.client
    for role, expected in (("operator", 403), ("editor", 403), ("admin", 200)):
        client.session.cookie_jar.clear()
        headers = {"X-CSRF-Token": await sign_in(client, role)}
        routing_change = await client.put(
            "/api/inbox/teams/first-line/routing", json={"auto_assign": False}, headers=headers
        )
        assert routing_change.status == expected, role
        member = await client.put("/api/inbox/teams/first-line/members/1", headers=headers)
        assert member.status == expected, role
        presence = await client.post("/api/inbox/presence", json={"status": "away"}, headers=headers)
        assert presence.status == 200, role
    unknown = await client.put("/api/inbox/teams/no-such-team/routing", json={"auto_assign": True}, headers=headers)
    assert unknown.status == 404
    bad = await client.post("/api/inbox/presence", json={"status": "sleeping"}, headers=headers)
    assert bad.status == 422
    client.session.cookie_jar.clear()


async def test_bad_input_gets_a_clear_answer_and_changes_nothing(stack: Stack) -> None:
    chat, conversation_id = await waiting_conversation(stack)
    client = stack.client
    csrf = await sign_in(client, "operator")
    headers = {"X-CSRF-Token": csrf}
    base = f"/api/inbox/conversations/{conversation_id}"
    assert (await client.get("/inbox?view=everything")).status == 422
    assert (await client.get("/inbox?channel=pigeon")).status == 422
    assert (await client.get("/inbox/conversations/99999999")).status == 404
    # Without the CSRF token nothing happens.
    assert (await client.post(f"{base}/take")).status == 403
    # Replying to a conversation one does not hold.
    refused = await client.post(f"{base}/reply", json={"text": "hello"}, headers=headers)
    assert refused.status == 409
    assert (await client.post(f"{base}/take", headers=headers)).status == 200
    # A 10 MB paste: refused with a clear status, the conversation unchanged.
    paste = io.BytesIO(b'{"text": "' + b"x" * 10_000_000 + b'"}')
    huge = await client.post(f"{base}/reply", data=paste, headers={**headers, "Content-Type": "application/json"})
    assert huge.status == 413
    too_long = await client.post(f"{base}/reply", json={"text": "x" * 5000}, headers=headers)
    assert too_long.status == 422
    await stack.settle()
    assert not any("xxxx" in m for m in stack.sent(chat))
    assert (await client.post(f"{base}/close", headers=headers)).status == 200
    # Claiming a closed conversation.
    closed = await client.post(f"{base}/take", headers=headers)
    assert closed.status == 409
    assert (await closed.json())["error"]["details"]["status"] == "closed"


async def test_an_open_tab_refreshing_on_live_events_does_not_keep_its_operator_online(stack: Stack) -> None:
    """Away by inactivity means the operator, not their tab: re-reads sent because of a live event leave the
    last-seen time alone; opening or acting on a page moves it."""
    _chat, conversation_id = await waiting_conversation(stack)
    client = stack.client
    client.session.cookie_jar.clear()
    csrf = await sign_in(client, "operator")
    me = await client.get("/api/me")
    operator_id = int((await me.json())["id"])
    online = await client.post("/api/inbox/presence", json={"status": "online"}, headers={"X-CSRF-Token": csrf})
    assert online.status == 200, await online.text()
    long_ago = utcnow() - timedelta(hours=1)
    async with transaction(stack.app[SESSIONS]) as session:
        await session.execute(
            update(OperatorPresence).where(OperatorPresence.operator_id == operator_id).values(seen_at=long_ago)
        )

    async def seen_at() -> datetime:
        async with stack.app[SESSIONS]() as session:
            row = await session.get_one(OperatorPresence, operator_id)
            return row.seen_at.replace(tzinfo=UTC) if row.seen_at.tzinfo is None else row.seen_at

    live = {"X-Frontline-Refresh": "live"}
    for path in ("/inbox/list", f"/inbox/conversations/{conversation_id}/thread"):
        assert (await client.get(path, headers=live)).status == 200
        assert await seen_at() < utcnow() - timedelta(minutes=59), f"{path} refreshed by the tab counted as activity"
    assert (await client.get(f"/inbox/conversations/{conversation_id}/thread")).status == 200
    assert await seen_at() > utcnow() - timedelta(minutes=1), "the operator opening a conversation is activity"
    await client.post("/api/inbox/presence", json={"status": "offline"}, headers={"X-CSRF-Token": csrf})
    client.session.cookie_jar.clear()


async def test_views_filters_and_unread_counts(stack: Stack) -> None:
    _chat, conversation_id = await waiting_conversation(stack, "позовите оператора <script>alert(1)</script>")
    client = stack.client
    await sign_in(client, "admin")
    page = await (await client.get("/inbox")).text()
    assert f'data-conversation="{conversation_id}"' in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'class="conversation is-unread"' in page
    web_only = await (await client.get("/inbox/list?view=waiting&channel=web")).text()
    assert f'data-conversation="{conversation_id}"' not in web_only
    other_team = await (await client.get("/inbox/list?view=waiting&team=billing")).text()
    assert f'data-conversation="{conversation_id}"' not in other_team, "it waits in the default team's queue"
    assert (await client.get("/inbox/list?team=no-such-team")).status == 422
    english = await (await client.get("/inbox/list?view=waiting&language=en")).text()
    assert f'data-conversation="{conversation_id}"' not in english
    # Opening the conversation marks it read for this operator (and only for them).
    assert (await client.get(f"/inbox/conversations/{conversation_id}")).status == 200
    after = await (await client.get("/inbox/list?view=waiting")).text()
    marker = f'data-conversation="{conversation_id}"'
    line = next(line for line in after.splitlines() if marker in line)
    assert "is-unread" not in line
    mine = await (await client.get("/inbox/list?view=mine")).text()
    assert marker not in mine


@pytest.mark.redis
@pytest.mark.postgres
async def test_a_message_stored_on_one_worker_reaches_a_tab_on_another(
    postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two workers on one database and one Redis: the tab listens to worker B, the customer writes to A."""
    async with BotApiStandIn() as standin:
        settings_a = stack_settings(postgres_url, tmp_path_factory.mktemp("a"), standin, redis_url=redis_url)
        worker_a = await start_stack(settings_a, standin)
        settings_b = stack_settings(
            postgres_url, tmp_path_factory.mktemp("b"), standin, redis_url=redis_url, telegram_token=None
        )
        worker_b: TestClient[Any, Any] = TestClient(TestServer(create_app(settings_b)))
        await worker_b.start_server()
        try:
            await sign_in(worker_b, "operator")
            events = await worker_b.get("/inbox/events")
            assert b"event: hello" in await asyncio.wait_for(events.content.readuntil(b"}\n\n"), 10)
            chat, conversation_id = await waiting_conversation(worker_a, "позовите оператора, пожалуйста")
            seen: list[bytes] = []
            async with asyncio.timeout(10):
                while not any(b"conversation.status_changed" in f and b'"to":"waiting"' in f for f in seen):
                    seen.append(await events.content.readuntil(b"\n\n"))
            assert any(f'"conversation_id":{conversation_id}'.encode() in f for f in seen)
            events.close()
            listed = await (await worker_b.get("/inbox/list?view=waiting")).text()
            assert f'data-conversation="{conversation_id}"' in listed
            assert chat
        finally:
            await worker_b.close()
            await worker_a.client.close()
