"""A typed answer to a button question: the button the customer meant, from the buttons they were shown.

The question is the latest message the customer received; its buttons say what answers make sense, and the
words (``data/bot/words.yml``) say how each answer can be typed. The result is handled exactly as a press.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.engine.turn import Turn
from bot.engine.words import Phrases, Words, normalise
from core.buttons import Action, ButtonPayload
from core.models import Direction, Message


async def last_buttons(turn: Turn) -> list[dict[str, Any]]:
    """The buttons under the latest message sent to this conversation before the one being handled."""
    latest = await turn.uow.session.scalar(
        select(Message.buttons)
        .where(
            Message.conversation_id == turn.conversation.id,
            Message.direction == Direction.OUTBOUND,
            Message.id < turn.message.id,
            Message.private.is_(False),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    return [b for b in latest or [] if isinstance(b, dict) and isinstance(b.get("payload"), str)]


def _meanings(words: Words, button: ButtonPayload, position: int) -> tuple[Phrases, ...]:
    action, arg = button.action, button.arg
    if action is Action.HELPFUL:
        return (words.affirm, words.helped) if arg.startswith("y") else (words.deny, words.not_helped)
    if action is Action.URGENCY:
        return (words.urgency.get(arg, ()),)
    if action in (Action.INTAKE, Action.CANCEL_TICKET, Action.RESUME):
        if arg == "edit":
            return (words.edit,)
        return (words.affirm,) if arg == "yes" else (words.deny, words.cancel)
    if action in (Action.CSAT, Action.TICKET_CSAT):
        numbers = button.numbers()
        return (words.ratings.get(numbers[-1], ()),) if numbers else ()
    if action is Action.SUGGESTION:
        return (words.ordinals.get(position, ()),)
    if action is Action.LEAVE_QUEUE:
        return (words.leave_queue, words.cancel)
    if action is Action.TICKET:
        return (words.open_ticket_instead,)
    return ()


async def typed_button(turn: Turn, words: Words) -> str | None:
    """The payload of the shown button the typed text stands for; None when it stands for none of them."""
    buttons = await last_buttons(turn)
    text = normalise(turn.text)
    if not buttons or not text:
        return None
    for button in buttons:  # the label itself, without its emoji: "Не срочно", "Позвать оператора"
        if normalise(str(button.get("label", ""))) == text:
            return str(button["payload"])
    for position, button in enumerate(buttons, start=1):
        decoded = ButtonPayload.unpack(str(button["payload"]))
        if decoded is None:
            continue
        meanings = _meanings(words, decoded, position)
        if meanings and words.matches(text, *meanings):
            return str(button["payload"])
    return None
