"""Web-chat visitors whose worker is killed with SIGKILL mid-conversation: they reconnect to another worker and
are shown every reply once.

Two ``frontline serve`` processes on PostgreSQL + Redis; the visitors are real WebSockets doing what the widget
does (hello with the token and the last number shown, messages under client ids, acks). They start on the first
worker, which is killed once replies are flowing; they come back through the second worker, resend what was not
shown back as stored, and finish their conversations there while the first worker restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from aiohttp import ClientSession
from sqlalchemy import select

from core.db import create_engine, session_factory
from core.models import Channel, Message
from standin.botapi import BotApiStandIn
from standin.ledger import settled
from standin.processes import Worker, run_command, worker_env
from standin.widget import WebVisitor
from tests.support.databases import empty_tables

pytestmark = [pytest.mark.timeout(900)]

SAID = ["как поменять пароль от вайфая?", "не работает интернет", "спасибо"]
VISITORS = 4


@pytest.mark.postgres
@pytest.mark.redis
async def test_web_visitors_whose_worker_is_killed_get_every_reply_once_through_another_worker(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    engine = create_engine(postgres_url)
    await empty_tables(engine)
    try:
        async with BotApiStandIn() as standin:
            env = worker_env(postgres_url, tmp_path / "var", standin.url, FRONTLINE_REDIS_URL=redis_url)
            await run_command(env, "demo", "load", "--without-history")
            first, second = Worker(env, tmp_path / "worker0.log"), Worker(env, tmp_path / "worker1.log")
            await asyncio.gather(first.start(), second.start())
            killed = asyncio.Event()
            try:
                async with ClientSession() as http:
                    visitors = [
                        WebVisitor(http, lambda: second.url if killed.is_set() else first.url) for _ in range(VISITORS)
                    ]

                    async def converse(visitor: WebVisitor) -> None:
                        await visitor.connect()
                        for text in SAID:
                            await visitor.say(text)

                    async def kill_once_replies_flow() -> None:
                        async with asyncio.timeout(120):
                            while not any(v.replies() for v in visitors):
                                await asyncio.sleep(0.05)
                        killed.set()
                        first.kill()
                        await first.wait_dead()
                        await first.start()

                    await asyncio.gather(*(converse(v) for v in visitors), kill_once_replies_flow())
                    assert all(v.worker == second.url for v in visitors), "every visitor came back through the other"
                    vids: dict[str, WebVisitor] = {}
                    async with session_factory(engine)() as session:
                        for visitor in visitors:
                            vid = await session.scalar(
                                select(Message.chat_id)
                                .where(
                                    Message.channel == Channel.WEB, Message.channel_message_id.in_(list(visitor.sent))
                                )
                                .limit(1)
                            )
                            assert vid is not None, "what the visitor said is stored"
                            vids[vid] = visitor
                    ledger = await settled(session_factory(engine), list(vids), VISITORS * len(SAID), timeout=180)
                    assert ledger.stored_twice == [], "a message resent after the reconnect is stored once"
                    assert ledger.unhandled == []
                    assert ledger.unanswered == []
                    assert ledger.answered_twice == [], "no message was answered twice"
                    assert ledger.out_of_order() == []
                    for vid, visitor in vids.items():
                        stored = {m.seq: m.text for m in ledger.outbound if m.chat_id == vid}
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(30):  # the last acks and catch-ups are on their way
                                while not set(stored) <= set(visitor.shown):
                                    await asyncio.sleep(0.1)
                        shown = {seq: f["text"] for seq, f in visitor.replies().items()}
                        states = {m.seq: m.delivery_state.value for m in ledger.outbound if m.chat_id == vid}
                        assert shown == stored, f"every reply shown, each under its own number; states {states}"
                    for visitor in visitors:
                        await visitor.close()
            finally:
                await asyncio.gather(first.stop(), second.stop())
    finally:
        await engine.dispose()
