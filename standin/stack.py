"""A running Frontline with Telegram pointed at the Bot API stand-in: the whole stack, for real.

The app is served on loopback with its real cleanup contexts (database, events, embedder, NLU, knowledge
base, tickets, conversation engine, Telegram poller or webhook, outbox delivery); the customer side is the
stand-in, which records every Bot API call.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import create_app
from bot.demo import load_demo
from bot.keys import DELIVERY, TELEGRAM
from core.db import create_engine, session_factory
from core.models import DeliveryState, Direction, Message
from core.settings import Settings
from core.web.keys import SESSIONS
from standin.botapi import BotApiStandIn

TOKEN = "123:abc"


async def unsettled(app: web.Application) -> int:
    """Messages still in flight: inbound ones not yet handled, replies not yet sent (pending or being sent)."""
    async with app[SESSIONS]() as session:
        busy = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                ((Message.direction == Direction.INBOUND) & Message.handled_at.is_(None))
                | (
                    (Message.direction == Direction.OUTBOUND)
                    & (Message.delivery_state.in_([DeliveryState.PENDING, DeliveryState.SENDING]))
                )
            )
        )
    return int(busy or 0)


@dataclass
class Stack:
    """One running application and the Telegram stand-in it talks to."""

    standin: BotApiStandIn
    app: web.Application
    client: TestClient[Any, Any]

    @property
    def url(self) -> str:
        return str(self.client.make_url(""))

    async def acknowledged(self, update_id: int, timeout: float = 20.0) -> None:
        """Wait until the poller acknowledged the update (asked for the next offset): it is stored by then."""

        def past(call: Any) -> bool:
            offset = call.params.get("offset")
            return offset is not None and int(offset) > update_id

        await self.standin.wait_for("getUpdates", predicate=past, timeout=timeout)

    async def settle(self, timeout: float = 20.0, update_id: int | None = None, poll: float = 0.02) -> None:
        """Wait until every stored message is handled and every reply has left the outbox."""
        channel = self.app[TELEGRAM]
        if update_id is not None:
            await self.acknowledged(update_id, timeout)
        async with asyncio.timeout(timeout):
            while True:
                await channel.drain()
                busy = await unsettled(self.app)
                if not busy and not self.standin.pending_updates:
                    return
                self.app[DELIVERY].wake()
                await asyncio.sleep(poll)

    def sent(self, chat_id: int) -> list[str]:
        return self.standin.sent_messages(chat_id)

    def last_buttons(self, chat_id: int) -> list[dict[str, str]]:
        """The inline buttons of the latest message to this chat that had any."""
        for call in reversed(self.standin.calls_to("sendMessage")):
            markup = call.params.get("reply_markup")
            if call.ok and call.params.get("chat_id") == chat_id and isinstance(markup, dict):
                return [b for row in markup.get("inline_keyboard", []) for b in row]
        return []

    async def say(self, chat_id: int, text: str, language: str = "ru") -> list[str]:
        """The customer writes; returns the bot's replies to this message."""
        before = len(self.sent(chat_id))
        update = self.standin.make_text_update(chat_id, chat_id, text, language_code=language)
        await self.settle(update_id=self.standin.push_update(update))
        return self.sent(chat_id)[before:]

    async def press(self, chat_id: int, label_pattern: str, language: str = "ru") -> list[str]:
        """The customer presses the latest button whose label matches."""
        buttons = self.last_buttons(chat_id)
        button = next((b for b in buttons if re.search(label_pattern, b["text"])), None)
        assert button is not None, f"no button matching {label_pattern!r} among {[b['text'] for b in buttons]}"
        return await self.press_data(chat_id, button["callback_data"], language)

    async def press_data(self, chat_id: int, data: str, language: str = "ru") -> list[str]:
        before = len(self.sent(chat_id))
        sent = [c for c in self.standin.calls_to("sendMessage") if c.ok and c.params.get("chat_id") == chat_id]
        message_id = int(sent[-1].result["message_id"]) if sent else 1
        update = self.standin.make_callback_update(chat_id, chat_id, data, message_id, language_code=language)
        await self.settle(update_id=self.standin.push_update(update))
        return self.sent(chat_id)[before:]


def stack_settings(db_url: str, var_dir: Any, standin: BotApiStandIn, **overrides: Any) -> Settings:
    """Settings of a stack on ``db_url`` whose Telegram channel talks to ``standin``."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "var_dir": var_dir,
        "secret_key": "test-secret-key-not-for-production",
        "telegram_token": TOKEN,
        "telegram_api_url": standin.url,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


async def start_stack(settings: Settings, standin: BotApiStandIn, load_data: bool = True) -> Stack:
    """Serve the application on loopback (demo data loaded first unless ``load_data`` is false)."""
    app = create_app(settings)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    if load_data:
        engine = create_engine(settings.database_url)
        try:
            await load_demo(session_factory(engine), settings)
        finally:
            await engine.dispose()
    await client.start_server()
    stack = Stack(standin=standin, app=app, client=client)
    if settings.telegram_webhook_url is None:
        await standin.wait_polling_started(timeout=30)
    return stack
