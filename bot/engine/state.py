"""Dialog state, kept with the conversation in the database so any worker can take the next turn."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

IntakeStep = Literal["description", "urgency", "account", "confirm"]


class Intake(BaseModel):
    step: IntakeStep = "description"
    description: str = ""
    urgency: str | None = None
    account_number: str | None = None
    category: str | None = None


class DialogState(BaseModel):
    # Unknown keys (e.g. the inbox's CSAT bookkeeping) survive a round trip through the engine.
    model_config = ConfigDict(extra="allow")

    nonce: str = Field(default_factory=lambda: secrets.token_hex(3))
    flow: Literal["intake", "add", "cancel", "csat_comment"] | None = None
    intake: Intake | None = None
    ticket: str | None = None  # the ticket an add/cancel flow is about
    last_question: str | None = None
    last_article: int | None = None
    offered: list[int] = Field(default_factory=list)  # articles offered as buttons, in order
    unknown_streak: int = 0
    csat_for: int | None = None  # a closed conversation whose rating comment we are waiting for
    suspended: Intake | None = None  # an intake a new question interrupted, offered to be resumed
    waiting_ack_at: datetime | None = None  # when a customer waiting for a human was last told where they stand
    acks_since_handoff: int = 0

    def reset_flow(self) -> None:
        self.flow = None
        self.intake = None
        self.ticket = None
