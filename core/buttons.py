"""Button payloads: one typed, channel-agnostic codec for what a pressed button means.

A payload travels through the channel and comes back when the button is pressed (Telegram's
``callback_data``, the web chat's chip), so it is short text: ``<action>:<argument>:<nonce>``, trailing
empty parts dropped (``portal``). Telegram allows 64 bytes. Where a button changes data (a rating, a
confirmation) it carries a nonce that the receiver checks against what it issued, so a forged or stale
press does nothing.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["MAX_PAYLOAD", "Action", "ButtonPayload"]

MAX_PAYLOAD = 64  # Telegram's callback_data limit in bytes


class Action(StrEnum):
    """Named actions; the values are the short codes on the wire (kept from the first payload format)."""

    HELPFUL = "h"  # argument: y<article id> or n<article id>
    SUGGESTION = "s"  # argument: article id
    URGENCY = "u"  # argument: high | medium | low
    INTAKE = "c"  # argument: yes | edit | no (confirm, edit or drop the ticket being written)
    CANCEL_TICKET = "x"  # argument: yes | no
    TICKET = "t"  # start a ticket intake
    OPERATOR = "o"  # ask for a human
    RESUME = "r"  # argument: yes | no (continue the flow a new question interrupted)
    LEAVE_QUEUE = "w"  # stop waiting for a human
    MY_TICKETS = "m"  # the customer's open tickets
    CSAT = "csat"  # argument: <conversation id>.<rating>
    TICKET_CSAT = "tcsat"  # argument: <ticket id>.<rating>
    PORTAL = "portal"  # a one-time link to the customer's portal
    NOTICES_OFF = "noff"  # under a non-urgent notice: "don't send me such notices" (only the presser's own choice)
    RETRY = "a"  # argument: the id of a message whose turn failed (take it again)


_PART = re.compile(r"^[A-Za-z0-9._-]*$")


class ButtonPayload(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: Action
    arg: str = Field(default="", max_length=40, pattern=_PART.pattern)
    nonce: str = Field(default="", max_length=16, pattern=_PART.pattern)

    def pack(self) -> str:
        return f"{self.action.value}:{self.arg}:{self.nonce}".rstrip(":")

    @classmethod
    def unpack(cls, raw: str) -> ButtonPayload | None:
        """The payload a pressed button carried; None for anything this codec did not produce."""
        if not raw or len(raw.encode()) > MAX_PAYLOAD:
            return None
        parts = raw.split(":")
        if len(parts) > 3:
            return None
        parts += [""] * (3 - len(parts))
        try:
            return cls(action=Action(parts[0]), arg=parts[1], nonce=parts[2])
        except (ValueError, ValidationError):
            return None

    def numbers(self) -> tuple[int, ...] | None:
        """A compound numeric argument (``12.5``) as integers; None when it is not one."""
        pieces = self.arg.split(".")
        if not all(p.isdigit() and len(p) <= 12 for p in pieces):
            return None
        return tuple(int(p) for p in pieces)
