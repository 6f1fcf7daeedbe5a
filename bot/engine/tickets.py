"""Ticket dialogs: intake (ask only for what is missing, confirm, open, tell the ETA), status, add, cancel."""

from __future__ import annotations

import re
from typing import Any

from bot.engine.ports import Desk, Knowledge
from bot.engine.state import Intake
from bot.engine.turn import Turn
from core.errors import FrontlineError, NotFound

URGENCIES = ("high", "medium", "low")
ACCOUNT = re.compile(r"\b(\d{8,10}|\d{2}-\d{4})\b")
MIN_DESCRIPTION = 12  # shorter than this ("не работает") is not a description an engineer can act on


def start_intake(turn: Turn, description: str | None) -> None:
    intake = Intake()
    if description and len(description.strip()) >= MIN_DESCRIPTION:
        intake.description = description.strip()
    account = turn.entity("account_number")
    if account:
        intake.account_number = str(account)
    urgency = _urgency_hint(turn)
    if urgency:
        intake.urgency = urgency
    turn.state.flow = "intake"
    turn.state.intake = intake


def _urgency_hint(turn: Turn) -> str | None:
    return None  # urgency is always asked by buttons: customers overrate it less when choosing from three


async def continue_intake(turn: Turn, desk: Desk, kb: Knowledge, account_categories: frozenset[str]) -> None:
    """Advance the intake to the next missing piece; open the ticket once confirmed."""
    intake = turn.state.intake
    assert intake is not None
    if not intake.description:
        intake.step = "description"
        turn.say("ticket.ask_description", [turn.button("button.cancel", "c", "no")])
        return
    if intake.category is None:
        intake.category = await _guess_category(kb, intake.description, turn.language)
    if intake.urgency is None:
        intake.step = "urgency"
        turn.say(
            "ticket.ask_urgency",
            [turn.button(f"ticket.urgency.{u}", "u", u) for u in URGENCIES] + [turn.button("button.cancel", "c", "no")],
        )
        return
    needs_account = intake.category in account_categories and not (
        turn.customer.account_number or intake.account_number
    )
    if needs_account:
        intake.step = "account"
        turn.say("ticket.ask_account", [turn.button("button.cancel", "c", "no")])
        return
    intake.step = "confirm"
    turn.say(
        "ticket.confirm",
        [
            turn.button("button.confirm", "c", "yes"),
            turn.button("button.edit", "c", "edit"),
            turn.button("button.cancel", "c", "no"),
        ],
        description=intake.description[:500],
        urgency=turn.t(f"ticket.urgency.{intake.urgency}"),
    )


async def intake_text(turn: Turn, desk: Desk, kb: Knowledge, account_categories: frozenset[str]) -> None:
    """Free text while the intake waits for something."""
    intake = turn.state.intake
    assert intake is not None
    if intake.step == "description":
        text = turn.text.strip()
        intake.description = f"{intake.description}\n{text}".strip() if intake.description else text
    elif intake.step == "account":
        match = ACCOUNT.search(turn.text)
        account = turn.entity("account_number") or (match.group(1) if match else None)
        if not account:
            turn.say("ticket.bad_account", [turn.button("button.cancel", "c", "no")])
            return
        intake.account_number = str(account)
        turn.customer.account_number = str(account)
    elif intake.step == "confirm" and turn.intent == "affirm":
        await open_ticket(turn, desk)
        return
    elif intake.step == "confirm" and turn.intent == "deny":
        cancel_intake(turn)
        return
    elif intake.step in ("urgency", "confirm"):
        # Text instead of a button: treat it as more detail for the engineer, then ask again.
        intake.description = f"{intake.description}\n{turn.text.strip()}"
    await continue_intake(turn, desk, kb, account_categories)


async def intake_button(
    turn: Turn, desk: Desk, kb: Knowledge, account_categories: frozenset[str], action: str, arg: str
) -> None:
    intake = turn.state.intake
    if turn.state.flow != "intake" or intake is None:
        turn.say("bot.stale_button")
        return
    if action == "u" and arg in URGENCIES and intake.step == "urgency":
        intake.urgency = arg
    elif action == "c" and arg == "no":
        cancel_intake(turn)
        return
    elif action == "c" and arg == "edit" and intake.step == "confirm":
        intake.description = ""
    elif action == "c" and arg == "yes" and intake.step == "confirm":
        await open_ticket(turn, desk)
        return
    else:
        turn.say("bot.stale_button")
        return
    await continue_intake(turn, desk, kb, account_categories)


def cancel_intake(turn: Turn) -> None:
    turn.state.reset_flow()
    turn.say("ticket.cancelled_intake")


async def open_ticket(turn: Turn, desk: Desk) -> None:
    intake = turn.state.intake
    assert intake is not None
    opened = await desk.open_ticket(
        turn.uow,
        turn.customer,
        turn.conversation,
        description=intake.description,
        category=intake.category,
        urgency=intake.urgency or "medium",
        impact="one",
        account_number=intake.account_number or turn.customer.account_number,
    )
    turn.state.reset_flow()
    ticket = opened.ticket
    turn.say("ticket.created", number=ticket.number, priority=str(ticket.priority), eta=opened.eta_text)
    if opened.incident is not None:
        turn.say("ticket.incident", title=opened.incident.title, restoration=opened.incident.restoration_eta_text)


async def _guess_category(kb: Knowledge, description: str, language: str) -> str | None:
    """The category of the article closest to the description, when the match is confident enough."""
    hits = await kb.search(description, language, k=1)
    if not hits or str(hits[0].band) == "unknown":
        return None
    article = kb.published(hits[0].article_id)
    return str(article.category) if article is not None and article.category else None


def _status_line(turn: Turn, view: Any) -> str:
    return turn.t(
        "ticket.status_line",
        number=view.number,
        subject=view.subject,
        status=turn.t(f"ticket.status.{view.status}"),
        last_action=view.last_action or "",
        eta=view.eta_text if str(view.status) in ("new", "open", "pending") else "",
    )


async def ticket_status(turn: Turn, desk: Desk) -> None:
    number = turn.entity("ticket_number")
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
        turn.say("ticket.none_open", [turn.button("button.ticket", "t")])
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
        [turn.button("button.yes", "x", "yes"), turn.button("button.no", "x", "no")],
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
