"""Issue 11, findings 6, 7, 8, 11, 12: delivery faults (Telegram through the Bot API stand-in, both databases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.runtime import WEBHOOK_PATH, webhook_secret
from core.models import Conversation, Customer, DeliveryState, Direction, Message, RejectedUpdate
from core.store import Button, add_outbound
from core.uow import UnitOfWork
from core.web.keys import BUS, SESSIONS
from standin.botapi import BotApiStandIn
from standin.stack import TOKEN, Stack, stack_settings, start_stack


async def _rejected(stack: Stack) -> list[RejectedUpdate]:
    async with stack.app[SESSIONS]() as session:
        return list((await session.scalars(select(RejectedUpdate).order_by(RejectedUpdate.id))).all())


async def _inbound_texts(stack: Stack, chat: int) -> list[str]:
    async with stack.app[SESSIONS]() as session:
        rows = await session.scalars(
            select(Message).where(Message.chat_id == str(chat), Message.direction == Direction.INBOUND)
        )
        return [m.text for m in rows]


def _with_surrogate_names(update: dict[str, Any]) -> dict[str, Any]:
    update["message"]["from"]["first_name"] = "Iv\ud800an\x00"
    update["message"]["chat"]["first_name"] = "Iv\ud800an"
    return update


def _huge_chat_id(update: dict[str, Any]) -> dict[str, Any]:
    update["message"]["chat"]["id"] = int("9" * 130)
    return update


async def test_finding6_a_malformed_update_does_not_block_polling(
    db_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with BotApiStandIn() as standin:
        stack = await start_stack(stack_settings(db_url, tmp_path, standin), standin, load_data=False)
        try:
            odd = standin.push_update(_with_surrogate_names(standin.make_text_update(601, 601, "первое")))
            poison = standin.push_update(_huge_chat_id(standin.make_text_update(602, 602, "яд")))
            document = standin.make_document_update(603, 603, file_name="отчёт\ud800.pdf", caption="подпись\x00")
            standin.push_update(document)
            last = standin.push_update(standin.make_text_update(604, 604, "следующее"))
            await stack.acknowledged(last, timeout=30)
            assert await _inbound_texts(stack, 601) == ["первое"]
            assert await _inbound_texts(stack, 603) == ["подпись"]
            assert await _inbound_texts(stack, 604) == ["следующее"], "the next customer is not held back"
            async with stack.app[SESSIONS]() as session:
                names = set(await session.scalars(select(Customer.name)))
                stored = (
                    await session.scalars(
                        select(Message).where(Message.chat_id == "603", Message.direction == Direction.INBOUND)
                    )
                ).one()
            assert "Iv?an" in names
            assert stored.attachments[0]["name"] == "отчёт?.pdf"
            rejected = await _rejected(stack)
            assert [r.update_id for r in rejected] == [str(poison)]
            assert "64 bits" in rejected[0].reason
            assert "яд" in rejected[0].payload, "the raw update is kept for operators"
            assert odd < poison
        finally:
            await stack.client.close()


async def test_finding6_the_webhook_acknowledges_and_records_what_it_cannot_store(
    db_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with BotApiStandIn() as standin:
        settings = stack_settings(db_url, tmp_path, standin, telegram_webhook_url="https://desk.example/tg")
        stack = await start_stack(settings, standin, load_data=False)
        try:
            url = stack.url.rstrip("/") + WEBHOOK_PATH
            secret = webhook_secret(TOKEN, None)
            odd = _with_surrogate_names(standin.make_text_update(611, 611, "привет"))
            assert await standin.post_webhook(url, odd, secret) == 200
            assert (
                await standin.post_webhook(url, _huge_chat_id(standin.make_text_update(612, 612, "x")), secret) == 200
            )
            async with aiohttp.ClientSession() as http:
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
                deep = "[" * 100_000 + "]" * 100_000
                async with http.post(url, data=deep, headers=headers) as response:
                    assert response.status == 400
            assert await _inbound_texts(stack, 611) == ["привет"]
            assert len(await _rejected(stack)) == 1
        finally:
            await stack.client.close()


async def _reply(stack: Stack, chat: int, text: str, buttons: list[Button]) -> int:
    async with stack.app[SESSIONS]() as session:
        conversation = (await session.scalars(select(Conversation).where(Conversation.chat_id == str(chat)))).one()
    async with UnitOfWork(stack.app[SESSIONS], stack.app[BUS]) as uow:
        conversation = await uow.session.get_one(Conversation, conversation.id)
        message = await add_outbound(uow, conversation, text, buttons=buttons)
        return message.id


async def test_finding12_a_migrated_group_gets_every_part_with_the_buttons(
    db_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    chat, supergroup = 621, -100621
    async with BotApiStandIn() as standin:
        stack = await start_stack(stack_settings(db_url, tmp_path, standin), standin, load_data=False)
        try:
            await stack.say(chat, "привет")
            standin.fail_next(
                "sendMessage", "migrate", migrate_to_chat_id=supergroup, when=lambda p: p.get("chat_id") == chat
            )
            text = "\n".join(f"Строка {n} ответа, достаточно длинная, чтобы разбить его." for n in range(160))
            message_id = await _reply(stack, chat, text, [Button(label="Да", payload="yes")])
            await stack.settle()
            moved = [c for c in standin.calls_to("sendMessage") if c.ok and c.params.get("chat_id") == supergroup]
            assert len(moved) >= 2, "every part, not only the first"
            assert "".join(c.params["text"] for c in moved).replace("\n", "") == text.replace("\n", "")
            assert moved[-1].params.get("reply_markup"), "the buttons come with the last part"
            assert not moved[0].params.get("reply_markup")
            async with stack.app[SESSIONS]() as session:
                assert (await session.get_one(Message, message_id)).delivery_state is DeliveryState.SENT

            # The resend's own errors are classified: the new chat refusing for good is a failure, not a crash.
            standin.fail_next(
                "sendMessage", "migrate", migrate_to_chat_id=supergroup, when=lambda p: p.get("chat_id") == chat
            )
            standin.fail_next("sendMessage", "403", when=lambda p: p.get("chat_id") == supergroup)
            refused = await _reply(stack, chat, "ещё ответ", [])
            await stack.settle()
            async with stack.app[SESSIONS]() as session:
                row = await session.get_one(Message, refused)
            assert row.delivery_state is DeliveryState.FAILED
            assert row.last_error is not None
            assert "refused" in row.last_error
        finally:
            await stack.client.close()
