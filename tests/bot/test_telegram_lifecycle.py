"""Restarts and webhooks: nothing stored is lost, nothing is answered twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.keys import CONVERSATION_ENGINE, DELIVERY
from bot.runtime import WEBHOOK_PATH, webhook_secret
from core.db import SessionFactory
from core.models import DeliveryState, Direction, Message
from core.store import InboundMessage
from core.web.keys import SESSIONS
from standin.botapi import BotApiStandIn
from standin.stack import TOKEN, stack_settings, start_stack


async def outbound_states(sessions: SessionFactory, chat: int) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(
            select(Message).where(Message.chat_id == str(chat), Message.direction == Direction.OUTBOUND)
        )
        return [m.delivery_state.value for m in rows.scalars()]


async def test_a_reply_stored_before_a_crash_is_sent_once_after_restart(
    db_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    chat = 501
    async with BotApiStandIn() as standin:
        settings = stack_settings(db_url, tmp_path, standin)
        first = await start_stack(settings, standin)
        await first.app[DELIVERY].stop()  # the worker dies before it sends anything
        standin.push_update(standin.make_text_update(chat, chat, "привет"))
        async with asyncio.timeout(20):
            while await outbound_states(first.app[SESSIONS], chat) != ["pending"]:
                await asyncio.sleep(0.05)
        await first.client.close()
        assert standin.sent_messages(chat) == []

        second = await start_stack(settings, standin, load_data=False)
        try:
            await second.settle()
            assert len(standin.sent_messages(chat)) == 1
            assert await outbound_states(second.app[SESSIONS], chat) == ["sent"]
        finally:
            await second.client.close()


async def test_a_message_stored_but_never_answered_is_answered_after_restart(
    db_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    chat = 502
    async with BotApiStandIn() as standin:
        settings = stack_settings(db_url, tmp_path, standin)
        first = await start_stack(settings, standin)
        # The worker stores the message and dies before its turn.
        await first.app[CONVERSATION_ENGINE].receive(
            InboundMessage(
                channel="telegram", external_user_id=str(chat), chat_id=str(chat), channel_message_id="1", text="привет"
            )
        )
        await first.client.close()
        second = await start_stack(settings, standin, load_data=False)
        try:
            await standin.wait_for(
                "sendMessage", predicate=lambda c: c.ok and c.params.get("chat_id") == chat, timeout=20
            )
            await second.settle()
            assert len(standin.sent_messages(chat)) == 1
        finally:
            await second.client.close()


async def test_webhook_mode_answers_and_refuses_wrong_secrets(db_url: str, engine: AsyncEngine, tmp_path: Path) -> None:
    chat = 503
    async with BotApiStandIn() as standin:
        settings = stack_settings(
            db_url, tmp_path, standin, telegram_webhook_url="https://desk.example/telegram/webhook"
        )
        stack = await start_stack(settings, standin)
        try:
            assert standin.webhook is not None
            assert standin.webhook["url"] == "https://desk.example/telegram/webhook"
            url = stack.url.rstrip("/") + WEBHOOK_PATH
            secret = webhook_secret(TOKEN, None)
            update = standin.make_text_update(chat, chat, "здравствуйте")
            assert await standin.post_webhook(url, dict(update), secret_token="wrong") == 401
            # not an update: recorded as rejected and acknowledged (see tests/bot/test_channel_faults.py)
            assert await standin.post_webhook(url, {"update_id": 5, "message": {"text": "no chat"}}, secret) == 200
            assert await standin.post_webhook(url, update, secret_token=secret) == 200
            await stack.settle()
            assert len(standin.sent_messages(chat)) == 1
            assert await standin.post_webhook(url, update, secret_token=secret) == 200  # redelivered
            await stack.settle()
            assert len(standin.sent_messages(chat)) == 1
            async with stack.app[SESSIONS]() as session:
                rows = await session.execute(select(Message).where(Message.chat_id == str(chat)))
                states = sorted(m.delivery_state for m in rows.scalars())
            assert states == sorted([DeliveryState.RECEIVED, DeliveryState.SENT])
        finally:
            await stack.client.close()
