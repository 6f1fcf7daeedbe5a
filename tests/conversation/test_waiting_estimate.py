"""Issue 19 (7): the wait estimate counts the closing time; (10) "today"/"tomorrow" instead of a date."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bot.engine import handoff
from bot.engine.state import DialogState
from bot.engine.turn import Turn
from core.db import SessionFactory
from core.events import InProcessBus
from core.models import ConversationStatus, Customer, Message
from core.templates import Templates
from core.uow import UnitOfWork
from handoff.inbox import WaitEstimate
from sla import SlaPolicy
from tests.support.people import msk, person


async def _estimate_text(
    sessions: SessionFactory, bus: InProcessBus, templates: Templates, sla: SlaPolicy, at: datetime
) -> tuple[WaitEstimate, str]:
    someone = await person(sessions)
    async with UnitOfWork(sessions, bus) as uow:
        conversation = await uow.session.get_one(type(someone.conversation), someone.conversation.id)
        conversation.status = ConversationStatus.WAITING
        conversation.waiting_since = at
        customer = await uow.session.get_one(Customer, someone.customer.id)
        turn = Turn(
            uow=uow,
            conversation=conversation,
            customer=customer,
            message=Message(text=""),
            parse=None,
            state=DialogState(),
            language="ru",
            templates=templates,
        )
        found = await handoff.estimate(turn, sla, now=at)
        return found, handoff.wait_text(turn, found, templates, first=False, now=at)


async def test_an_answer_after_closing_is_promised_for_when_operators_are_back(
    sessions: SessionFactory, bus: InProcessBus, templates: Templates, desk_data: Path
) -> None:
    sla = SlaPolicy.load(desk_data)
    friday_close = msk(2026, 12, 4, 17, 57)  # operators leave at 18:00; a reply takes ~5 minutes
    found, text = await _estimate_text(sessions, bus, templates, sla, friday_close)
    assert found.minutes is None
    assert found.back_at == msk(2026, 12, 7, 9, 0)
    assert "в понедельник, 7 декабря, в 09:00" in text, text


async def test_operators_back_today_say_today(
    sessions: SessionFactory, bus: InProcessBus, templates: Templates, desk_data: Path
) -> None:
    sla = SlaPolicy.load(desk_data)
    _, text = await _estimate_text(sessions, bus, templates, sla, msk(2026, 12, 7, 7, 30))  # Monday, before 09:00
    assert "сегодня в 09:00" in text, text
    _, text = await _estimate_text(sessions, bus, templates, sla, msk(2026, 12, 7, 19, 0))  # Monday evening
    assert "завтра в 09:00" in text, text
