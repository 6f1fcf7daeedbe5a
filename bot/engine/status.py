"""Dialogs about the customer's existing tickets: status and the list, adding a comment, cancelling."""

from __future__ import annotations

import re
from typing import Any

from bot.engine.ports import Desk
from bot.engine.turn import Turn
from core.buttons import Action
from core.errors import FrontlineError, NotFound


def _status_line(turn: Turn, view: Any) -> str:
    return turn.t(
        "ticket.status_line",
        number=view.number,
        subject=view.subject,
        status=turn.t(f"ticket.status.{view.status}"),
        last_action=view.last_action or "",
        eta=view.eta_text if str(view.status) in ("new", "open", "pending") else "",
    )


async def open_tickets_brief(turn: Turn, desk: Desk) -> None:
    """After a greeting: the customer's open tickets, if any (nothing at all when there are none)."""
    views = await desk.customer_tickets(turn.uow.session, turn.customer.id, open_only=True)
    if views:
        lines = [turn.t("ticket.list_intro")] + [_status_line(turn, v) for v in views[:5]]
        turn.say_text("\n\n".join(lines))


async def ticket_status(turn: Turn, desk: Desk, number: str | None = None) -> None:
    number = number or turn.entity("ticket_number")
    session = turn.uow.session
    if number:
        try:
            view = await desk.customer_ticket(session, turn.customer.id, str(number))
        except NotFound:
            turn.say("ticket.not_found", number=number)
            return
        turn.say_text(_status_line(turn, view))
        return
    views = await desk.customer_tickets(session, turn.customer.id, open_only=True)
    if not views:
        turn.say("ticket.none_open", [turn.button("button.ticket", Action.TICKET)])
        return
    lines = [turn.t("ticket.list_intro")] + [_status_line(turn, v) for v in views[:5]]
    turn.say_text("\n\n".join(lines))


async def _which_ticket(turn: Turn, desk: Desk) -> str | None:
    """The ticket the customer means: the number they gave, or their only open ticket."""
    number = turn.entity("ticket_number")
    if number:
        return str(number)
    views = await desk.customer_tickets(turn.uow.session, turn.customer.id, open_only=True)
    return str(views[0].number) if len(views) == 1 else None


def _remainder(turn: Turn) -> str:
    """What the customer wants added: the message without the ticket number and the request words."""
    text = turn.text
    if turn.parse is not None:
        for entity in turn.parse.entities:
            if entity.entity == "ticket_number":
                text = text[: entity.start] + text[entity.end :]
    text = re.sub(r"^[^:]*:", "", text) if ":" in text else ""
    return text.strip(" .,-—")


async def add_to_ticket(turn: Turn, desk: Desk) -> None:
    number = await _which_ticket(turn, desk)
    if number is None:
        turn.state.flow = "add"
        turn.state.ticket = None
        turn.say("ticket.which")
        return
    addition = _remainder(turn)
    if addition:
        await _add(turn, desk, number, addition)
        return
    turn.state.flow = "add"
    turn.state.ticket = number
    turn.say("ticket.ask_addition", number=number)


async def add_flow_text(turn: Turn, desk: Desk) -> None:
    if turn.state.ticket is None:
        number = turn.entity("ticket_number")
        if not number:
            turn.state.reset_flow()
            turn.say("ticket.which")
            return
        turn.state.ticket = str(number)
        addition = _remainder(turn)
        if not addition:
            turn.say("ticket.ask_addition", number=turn.state.ticket)
            return
        await _add(turn, desk, turn.state.ticket, addition)
        return
    await _add(turn, desk, turn.state.ticket, turn.text)


async def _add(turn: Turn, desk: Desk, number: str, text: str) -> None:
    turn.state.reset_flow()
    try:
        view = await desk.add_to_ticket(turn.uow, turn.customer.id, number, text)
    except NotFound:
        turn.say("ticket.not_found", number=number)
        return
    except FrontlineError:
        turn.say("ticket.not_found", number=number)
        return
    turn.say("ticket.added", number=view.number)


async def cancel_ticket(turn: Turn, desk: Desk) -> None:
    number = await _which_ticket(turn, desk)
    if number is None:
        turn.say("ticket.which")
        return
    try:
        view = await desk.customer_ticket(turn.uow.session, turn.customer.id, number)
    except NotFound:
        turn.say("ticket.not_found", number=number)
        return
    turn.state.flow = "cancel"
    turn.state.ticket = view.number
    turn.say(
        "ticket.confirm_cancel",
        [turn.button("button.yes", Action.CANCEL_TICKET, "yes"), turn.button("button.no", Action.CANCEL_TICKET, "no")],
        number=view.number,
    )


async def cancel_answer(turn: Turn, desk: Desk, yes: bool) -> None:
    number = turn.state.ticket
    turn.state.reset_flow()
    if number is None:
        turn.say("bot.stale_button")
        return
    if not yes:
        turn.say("ticket.cancel_kept", number=number)
        return
    try:
        view = await desk.cancel_ticket(turn.uow, turn.customer.id, number)
    except FrontlineError:
        turn.say("ticket.not_found", number=number)
        return
    turn.say("ticket.cancelled", number=view.number)
