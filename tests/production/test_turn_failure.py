"""A turn that raises: the customer is told and offered a way on, the message stays stored and marked, the failure
is counted, and nothing retries it behind the customer's back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.engine.ports import Desk
from bot.engine.timing import TimedDesk
from bot.keys import CONVERSATION_ENGINE
from core.models import Conversation, Customer, Direction, Message
from core.uow import UnitOfWork
from core.web.keys import SESSIONS, TEMPLATES
from nlu.keys import NLU_ENGINE
from standin.botapi import BotApiStandIn
from standin.stack import Stack, stack_settings, start_stack
from tests.support.nlu import FAULT_TEXT, FaultyEngine
from tickets.models import Ticket

QUESTION = f"{FAULT_TEXT}: как оплатить картой?"


async def _failures(stack: Stack) -> float:
    response = await stack.client.get("/metrics")
    assert response.status == 200
    for line in (await response.text()).splitlines():
        if line.startswith("frontline_turn_failures_total "):
            return float(line.split()[1])
    raise AssertionError("no frontline_turn_failures_total in /metrics")


async def _inbound(stack: Stack, chat: int) -> list[Message]:
    async with stack.app[SESSIONS]() as session:
        rows = await session.execute(
            select(Message)
            .where(Message.chat_id == str(chat), Message.direction == Direction.INBOUND)
            .order_by(Message.id)
        )
        return list(rows.scalars())


async def test_a_turn_whose_parse_raises_tells_the_customer_keeps_the_message_and_counts_the_failure(
    db_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    chat = 9401
    async with BotApiStandIn() as standin:
        settings = stack_settings(db_url, tmp_path, standin, nlu_engine="tests.support.nlu:faulty_engine")
        stack = await start_stack(settings, standin)
        try:
            templates = stack.app[TEMPLATES]
            assert await _failures(stack) == 0
            replies = await stack.say(chat, QUESTION)
            assert replies == [templates.render("bot.error", "ru")]
            buttons = stack.last_buttons(chat)
            assert [b["text"] for b in buttons] == [
                templates.render("button.human", "ru"),
                templates.render("button.my_tickets", "ru"),
                templates.render("button.retry", "ru"),
            ]
            (message,) = await _inbound(stack, chat)
            assert message.text == QUESTION
            assert message.handled_at is not None
            assert message.meta.get("turn_failed") is True
            assert await _failures(stack) == 1

            # Nothing takes the turn again by itself: no endless retries, no second error reply.
            assert await stack.app[CONVERSATION_ENGINE].recover() == 0
            await stack.settle()
            assert stack.sent(chat) == replies

            # The fault is gone: "try again" answers the saved question, once.
            faulty = stack.app[NLU_ENGINE]
            assert isinstance(faulty, FaultyEngine)
            faulty.broken = False
            again = await stack.press_data(chat, buttons[2]["callback_data"])
            assert again
            assert templates.render("bot.error", "ru") not in again
            assert "карт" in again[0].lower()  # the payment-by-card article
            assert await _failures(stack) == 1
            stale = await stack.press_data(chat, buttons[2]["callback_data"])
            assert stale == [templates.render("bot.stale_button", "ru")]
        finally:
            await stack.client.close()


class FailsAfterOpening:
    """The real ticket desk, except that opening a ticket raises once the ticket is written: a fault mid-turn."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.broken = True

    async def open_ticket(self, uow: UnitOfWork, customer: Customer, conversation: Conversation, **fields: Any) -> Any:
        view = await self.desk.open_ticket(uow, customer, conversation, **fields)
        if self.broken:
            await uow.session.flush()
            raise RuntimeError("a fault after the ticket was written")
        return view

    async def customer_tickets(self, session: AsyncSession, customer_id: int, *, open_only: bool = True) -> list[Any]:
        return await self.desk.customer_tickets(session, customer_id, open_only=open_only)

    async def customer_ticket(self, session: AsyncSession, customer_id: int, number: str) -> Any:
        return await self.desk.customer_ticket(session, customer_id, number)

    async def add_to_ticket(self, uow: UnitOfWork, customer_id: int, number: str, text: str) -> Any:
        return await self.desk.add_to_ticket(uow, customer_id, number, text)

    async def cancel_ticket(self, uow: UnitOfWork, customer_id: int, number: str) -> Any:
        return await self.desk.cancel_ticket(uow, customer_id, number)


async def _tickets(stack: Stack) -> int:
    async with stack.app[SESSIONS]() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


async def test_a_turn_that_raises_after_writing_a_ticket_leaves_no_ticket_behind(
    db_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    chat = 9402
    async with BotApiStandIn() as standin:
        stack = await start_stack(stack_settings(db_url, tmp_path, standin), standin)
        try:
            turns = stack.app[CONVERSATION_ENGINE]
            assert isinstance(turns.desk, TimedDesk)
            faulty = FailsAfterOpening(turns.desk.inner)
            turns.desk.inner = faulty
            templates = stack.app[TEMPLATES]
            before = await _tickets(stack)
            await stack.say(chat, "у меня уже второй день не показывает телевизор, нет сигнала на приставке")
            await stack.press(chat, "Срочно")
            confirm = next(b["callback_data"] for b in stack.last_buttons(chat) if "Да, оформить" in b["text"])
            failed = await stack.press_data(chat, confirm)
            assert failed == [templates.render("bot.error", "ru")]
            assert await _tickets(stack) == before, "the half-done turn's ticket was rolled back"
            assert await _failures(stack) == 1
            assert (await _inbound(stack, chat))[-1].meta.get("turn_failed") is True

            # The dialog is where it was before the failed turn: confirming again opens the ticket, once.
            faulty.broken = False
            created = await stack.press_data(chat, confirm)
            assert any("T-" in text for text in created), created
            assert await _tickets(stack) == before + 1
        finally:
            await stack.client.close()
