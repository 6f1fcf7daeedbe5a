"""Ticket intake: ask only for what is missing, confirm, open the ticket, tell the number and the ETA."""

from __future__ import annotations

import re

from bot.engine.ports import Desk, Knowledge
from bot.engine.state import Intake
from bot.engine.turn import Turn
from core.buttons import Action

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
    # Urgency is always asked by buttons: customers overrate it less when choosing from three.
    turn.state.flow = "intake"
    turn.state.intake = intake


async def continue_intake(turn: Turn, desk: Desk, kb: Knowledge, account_categories: frozenset[str]) -> None:
    """Advance the intake to the next missing piece; open the ticket once confirmed."""
    intake = turn.state.intake
    assert intake is not None
    if not intake.description:
        intake.step = "description"
        turn.say("ticket.ask_description", [turn.button("button.cancel", Action.INTAKE, "no")])
        return
    if intake.category is None:
        intake.category = await _guess_category(kb, intake.description, turn.language)
    if intake.urgency is None:
        intake.step = "urgency"
        turn.say(
            "ticket.ask_urgency",
            [turn.button(f"ticket.urgency.{u}", Action.URGENCY, u) for u in URGENCIES]
            + [turn.button("button.cancel", Action.INTAKE, "no")],
        )
        return
    needs_account = intake.category in account_categories and not (
        turn.customer.account_number or intake.account_number
    )
    if needs_account:
        intake.step = "account"
        turn.say("ticket.ask_account", [turn.button("button.cancel", Action.INTAKE, "no")])
        return
    intake.step = "confirm"
    turn.say(
        "ticket.confirm",
        [
            turn.button("button.confirm", Action.INTAKE, "yes"),
            turn.button("button.edit", Action.INTAKE, "edit"),
            turn.button("button.cancel", Action.INTAKE, "no"),
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
            turn.say("ticket.bad_account", [turn.button("button.cancel", Action.INTAKE, "no")])
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
    turn: Turn, desk: Desk, kb: Knowledge, account_categories: frozenset[str], action: Action, arg: str
) -> None:
    intake = turn.state.intake
    if turn.state.flow != "intake" or intake is None:
        turn.say("bot.stale_button")
        return
    if action is Action.URGENCY and arg in URGENCIES and intake.step == "urgency":
        intake.urgency = arg
    elif action is Action.INTAKE and arg == "no":
        cancel_intake(turn)
        return
    elif action is Action.INTAKE and arg == "edit" and intake.step == "confirm":
        intake.description = ""
    elif action is Action.INTAKE and arg == "yes" and intake.step == "confirm":
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
