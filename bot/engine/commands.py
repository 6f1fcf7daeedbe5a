"""Slash commands: /start (with a deep-link payload), /help, /menu, /cancel, /tickets, /operator, /link,
/notices_off and /notices_on.

A command is recognised before anything else, in any flow and while waiting for a human, and never reaches
the knowledge base (it is not a question, and it is not a gap). Telegram's deep links arrive as
``/start <payload>``: a ticket number shows that ticket, ``link_<code>`` links two chats (``bot.engine.link``);
anything else (a campaign tag, a code we do not know, 200 characters of noise) is just a greeting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.engine.turn import Turn
from core.buttons import Action

COMMANDS = ("start", "help", "menu", "cancel", "tickets", "operator", "link", "notices_off", "notices_on")
_COMMAND = re.compile(r"^/([A-Za-z_]{1,32})(?:@[A-Za-z0-9_]{1,64})?(?:\s+(.*))?$", re.DOTALL)
_TICKET = re.compile(r"^[Tt]-?(\d{6})$")


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # one of COMMANDS, or "unknown"
    payload: str


def parse_command(text: str) -> Command | None:
    """The command in a message that starts with "/"; None for ordinary text."""
    match = _COMMAND.match(text.strip())
    if match is None:
        return Command("unknown", "") if text.strip().startswith("/") and len(text.split()) == 1 else None
    name = match.group(1).lower()
    return Command(name if name in COMMANDS else "unknown", (match.group(2) or "").strip())


def ticket_in_payload(payload: str) -> str | None:
    """A deep link to a ticket (``T-000123`` or ``T000123``; "-" is not allowed in Telegram's payloads)."""
    match = _TICKET.match(payload[:16])
    return f"T-{match.group(1)}" if match else None


def menu(turn: Turn, key: str) -> None:
    turn.say(
        key,
        [
            turn.button("button.ticket", Action.TICKET),
            turn.button("button.my_tickets", Action.MY_TICKETS),
            turn.button("button.human", Action.OPERATOR),
        ],
    )
