"""The handoff dialog: queue the conversation for a human and tell the customer honestly how long it takes."""

from __future__ import annotations

from bot.engine.turn import Turn
from core.buttons import Action
from core.models import ConversationStatus
from core.templates import Templates
from handoff.inbox import estimate_wait, hand_off
from handoff.inbox import wait_text as wait_text
from sla import SlaPolicy


async def to_human(turn: Turn, sla: SlaPolicy, templates: Templates) -> None:
    turn.state.reset_flow()
    if turn.conversation.status is not ConversationStatus.BOT:
        turn.say("handoff.already")
        return
    await hand_off(turn.uow, turn.conversation)
    estimate = await estimate_wait(turn.uow.session, turn.conversation, turn.customer, sla)
    if estimate.back_at is not None:
        turn.say_text(wait_text(estimate, turn.customer, templates), [turn.button("button.ticket", Action.TICKET)])
    else:
        turn.say_text(wait_text(estimate, turn.customer, templates))
