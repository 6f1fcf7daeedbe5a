"""Ticket intake: ask only for what is missing, confirm, open the ticket, tell the number and the ETA."""

from __future__ import annotations

import re

from bot.engine.ports import Desk, Knowledge
from bot.engine.state import Intake
from bot.engine.turn import Turn
from bot.engine.words import normalise
from core.buttons import Action

URGENCIES = ("high", "medium", "low")
ACCOUNT = re.compile(r"\b(\d{8,10}|\d{2}-\d{4})\b")
MIN_DESCRIPTION = 12  # shorter than this ("не работает") is not a description an engineer can act on


def start_intake(turn: Turn, description: str | None) -> None:
    turn.state.suspended = None
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
        description=clip(intake.description, 500),
        urgency=turn.t(f"ticket.urgency.{intake.urgency}"),
    )


async def intake_text(
    turn: Turn, desk: Desk, kb: Knowledge, account_categories: frozenset[str], *, question: bool
) -> bool:
    """Free text while the intake waits for something; False when the text does not answer what was asked.

    Typed answers to the urgency and confirmation buttons are matched before this (``typed``), so text that
    reaches it at those steps is something else — a new question, for the engine to answer.
    """
    intake = turn.state.intake
    assert intake is not None
    if intake.step == "description":
        text = turn.text.strip()
        intake.description = f"{intake.description}\n{text}".strip() if intake.description else text
    elif intake.step == "account":
        match = ACCOUNT.search(turn.text)
        account = turn.entity("account_number") or (match.group(1) if match else None)
        if not account:
            if question:
                return False
            turn.say("ticket.bad_account", [turn.button("button.cancel", Action.INTAKE, "no")])
            return True
        intake.account_number = str(account)
        turn.customer.account_number = str(account)
    else:
        return False
    await continue_intake(turn, desk, kb, account_categories)
    return True


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
    """Drop the ticket being written (or the one a question interrupted), saying what was dropped."""
    dropped = turn.state.intake or turn.state.suspended
    turn.state.reset_flow()
    turn.state.suspended = None
    turn.say("ticket.cancelled_intake", description=about(dropped))


def about(intake: Intake | None) -> str:
    """A few words of the description for "the ticket about …"."""
    return clip(" ".join((intake.description if intake else "").split()), 60)


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary (mid-word only when one word is that long)."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 3 else limit].rstrip(" ,.;:—-") + "…"


def suspend(turn: Turn) -> None:
    """Put the intake aside while a new question is answered; it is offered back afterwards."""
    turn.state.suspended = turn.state.intake
    turn.state.reset_flow()


def offer_resume(turn: Turn) -> None:
    if turn.state.suspended is None or turn.state.flow is not None:
        return
    turn.say(
        "ticket.resume",
        [turn.button("button.resume", Action.RESUME, "yes"), turn.button("button.drop", Action.RESUME, "no")],
        description=about(turn.state.suspended),
    )


async def resume(turn: Turn, desk: Desk, kb: Knowledge, account_categories: frozenset[str], yes: bool) -> None:
    suspended = turn.state.suspended
    if suspended is None:
        turn.say("bot.stale_button")
        return
    if not yes:
        cancel_intake(turn)
        return
    turn.state.suspended = None
    turn.state.flow = "intake"
    turn.state.intake = suspended
    await continue_intake(turn, desk, kb, account_categories)


async def open_ticket(turn: Turn, desk: Desk) -> None:
    intake = turn.state.intake
    assert intake is not None
    twin = await _same_open_ticket(turn, desk, intake.description)
    if twin is not None:
        # The same problem filed twice: one ticket, and the customer is told where their words went.
        turn.state.reset_flow()
        await desk.add_to_ticket(turn.uow, turn.customer.id, twin, intake.description)
        turn.say("ticket.duplicate", number=twin)
        return
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


async def _same_open_ticket(turn: Turn, desk: Desk, description: str) -> str | None:
    """The number of the customer's open ticket with this very description (case and punctuation aside)."""
    wanted = normalise(description)
    if len(wanted) < MIN_DESCRIPTION:
        return None
    for view in await desk.customer_tickets(turn.uow.session, turn.customer.id, open_only=True):
        subject = normalise(str(view.subject).rstrip("…"))
        if len(subject) >= MIN_DESCRIPTION and wanted.startswith(subject):
            return str(view.number)
    return None
