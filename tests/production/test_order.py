"""Turns of one conversation are taken in message order, however quickly the messages arrive."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from core.web.keys import SESSIONS
from standin.botapi import BotApiStandIn
from standin.ledger import read_ledger
from standin.stack import stack_settings, start_stack

# Different paths of a turn take different times (a KB search, small talk, a status lookup), so without the
# ordering rule a quick second message overtakes a slow first one.
BURST = [
    "как оплатить интернет",
    "привет",
    "не работает интернет",
    "спасибо",
    "где моя заявка",
    "забыл пароль от wifi",
    "как сменить тариф",
    "ок",
]


async def test_a_burst_of_messages_from_one_customer_is_answered_in_the_order_written(
    db_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    chats = [8101, 8102, 8103]
    async with BotApiStandIn() as standin:
        stack = await start_stack(stack_settings(db_url, tmp_path, standin), standin)
        try:
            last = 0
            for text in BURST:
                for chat in chats:
                    last = standin.push_update(standin.make_text_update(chat, chat, text))
            await stack.settle(update_id=last, timeout=120)
            ledger = await read_ledger(stack.app[SESSIONS], chats)
            assert len(ledger.inbound) == len(BURST) * len(chats)
            assert ledger.unanswered == []
            assert ledger.out_of_order() == []
            # What the customer saw arrived in the outbox's order too: Telegram numbers a chat's messages as
            # they arrive, and each reply records the number it was given.
            for chat in chats:
                replies = sorted(
                    (m for m in ledger.outbound if m.chat_id == str(chat)), key=lambda m: (m.conversation_id, m.seq)
                )
                numbers = [int(m.channel_message_id or 0) for m in replies]
                assert 0 not in numbers
                assert numbers == sorted(numbers)
        finally:
            await stack.client.close()
