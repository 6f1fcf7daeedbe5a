"""A stored message whose turn failed (the database went away mid-turn) is answered without a restart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import runtime
from bot.keys import CONVERSATION_ENGINE
from core.store import InboundMessage
from standin.botapi import BotApiStandIn
from standin.stack import stack_settings, start_stack


async def test_a_message_left_unanswered_by_a_failed_turn_is_answered_by_the_running_worker(
    db_url: str, engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "RECOVERY_INTERVAL", timedelta(seconds=0.2))
    monkeypatch.setattr(runtime, "RECOVERY_AGE", timedelta(seconds=0.5))
    chat = 9301
    async with BotApiStandIn() as standin:
        stack = await start_stack(stack_settings(db_url, tmp_path, standin), standin)
        try:
            # Stored, then the turn never ran: what a turn that failed on a lost connection leaves behind.
            await stack.app[CONVERSATION_ENGINE].receive(
                InboundMessage(
                    channel="telegram",
                    external_user_id=str(chat),
                    chat_id=str(chat),
                    channel_message_id="1",
                    text="как оплатить интернет картой?",
                )
            )
            await standin.wait_for(
                "sendMessage", predicate=lambda c: c.ok and c.params.get("chat_id") == chat, timeout=30
            )
            await stack.settle()
            assert len(standin.sent_messages(chat)) >= 1
        finally:
            await stack.client.close()
