"""The handoff dialogs: queue the conversation for a human, and the customer's side of waiting.

Waiting is a state the customer can see and leave: a message while waiting is acknowledged with the place in
the queue or the time operators return (at most once per ``ACK_EVERY``, so a flood of "?" gets one answer),
and the customer can stop waiting or open a ticket instead. The estimate counts the closing time: an answer
that would land after operators leave is promised for when they are back.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from bot.engine.turn import Turn
from core.buttons import Action
from core.models import ConversationStatus, utcnow
from core.store import set_status
from core.templates import Templates
from handoff.inbox import WaitEstimate, estimate_wait, hand_off
from sla import SlaPolicy, eta_values, is_working, next_working_instant
from sla.eta import eta_data

ACK_EVERY = timedelta(minutes=5)


async def estimate(turn: Turn, sla: SlaPolicy, now: datetime | None = None) -> WaitEstimate:
    """The inbox's estimate, moved to the operators' return when the answer would come after closing."""
    now = now or utcnow()
    found = await estimate_wait(turn.uow.session, turn.conversation, turn.customer, sla, now=now)
    if found.minutes is None:
        return found
    calendar = sla.calendar_for(turn.customer.plan if turn.customer.plan in sla.plans else sla.default_plan)
    answer_at = now + timedelta(minutes=found.minutes)
    if is_working(calendar, answer_at):
        return found
    return WaitEstimate(position=found.position, minutes=None, back_at=next_working_instant(calendar, answer_at))


def _when(turn: Turn, back_at: datetime, templates: Templates, now: datetime | None = None) -> str:
    """ "в понедельник, 7 декабря, в 09:00 (МСК)" — or "сегодня в 18:00" / "завтра в 09:00" when it is that close."""
    lang: Literal["ru", "en"] = "en" if turn.language == "en" else "ru"
    names = {
        "eta.weekdays": templates.raw("handoff.weekdays_on", lang),
        "eta.months": templates.raw("eta.months", lang),
    }
    values = eta_values(back_at, turn.customer.timezone, lang, names)
    days = (eta_data(back_at, turn.customer.timezone, lang).local.date() - _local_date(turn, now or utcnow())).days
    if days in (0, 1):
        return templates.render("handoff.back_today" if days == 0 else "handoff.back_tomorrow", lang, **values)
    return templates.render("handoff.back_at", lang, **values)


def _local_date(turn: Turn, moment: datetime) -> date:
    return eta_data(moment, turn.customer.timezone, "en").local.date()


def wait_text(
    turn: Turn, found: WaitEstimate, templates: Templates, *, first: bool, now: datetime | None = None
) -> str:
    if found.back_at is not None:
        key = "handoff.after_hours" if first else "handoff.still_after_hours"
        return turn.t(key, when=_when(turn, found.back_at, templates, now), position=found.position)
    return turn.t(
        "handoff.waiting" if first else "handoff.still_waiting", position=found.position, minutes=found.minutes
    )


async def to_human(turn: Turn, sla: SlaPolicy, templates: Templates) -> None:
    turn.state.reset_flow()
    turn.state.suspended = None
    if turn.conversation.status is ConversationStatus.WAITING:
        await acknowledge(turn, sla, templates, force=True)
        return
    if turn.conversation.status is not ConversationStatus.BOT:
        turn.say("handoff.already")
        return
    await hand_off(turn.uow, turn.conversation)
    found = await estimate(turn, sla)
    turn.state.waiting_ack_at = utcnow()
    turn.state.acks_since_handoff = 0
    buttons = [turn.button("button.leave_queue", Action.LEAVE_QUEUE)]
    if found.back_at is not None:
        buttons.insert(0, turn.button("button.ticket", Action.TICKET))
    turn.say_text(wait_text(turn, found, templates, first=True), buttons)


async def acknowledge(turn: Turn, sla: SlaPolicy, templates: Templates, *, force: bool = False) -> None:
    """Tell a waiting customer where they stand — unless we did so a moment ago."""
    now = utcnow()
    last = turn.state.waiting_ack_at
    # The handoff message itself does not count: the first message after it is always acknowledged.
    if not force and turn.state.acks_since_handoff > 0 and last is not None and now - last < ACK_EVERY:
        return
    turn.state.waiting_ack_at = now
    turn.state.acks_since_handoff += 1
    found = await estimate(turn, sla, now)
    turn.say_text(
        wait_text(turn, found, templates, first=False),
        [turn.button("button.leave_queue", Action.LEAVE_QUEUE), turn.button("button.ticket", Action.TICKET)],
    )


async def leave_queue(turn: Turn, *, quiet: bool = False) -> bool:
    """Stop waiting for a human; False when the customer was not waiting."""
    if turn.conversation.status is not ConversationStatus.WAITING:
        return False
    await set_status(turn.uow, turn.conversation, ConversationStatus.BOT)
    turn.state.waiting_ack_at = None
    turn.state.acks_since_handoff = 0
    if not quiet:
        turn.say("handoff.left_queue")
    return True
