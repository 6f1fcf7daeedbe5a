"""One turn's context: who wrote, what they meant, and the replies being prepared."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.engine.state import DialogState
from core.buttons import Action, ButtonPayload
from core.models import Conversation, Customer, Message
from core.store import Button
from core.templates import Templates
from core.uow import UnitOfWork
from nlu.parse import Parse


@dataclass(slots=True)
class Reply:
    text: str
    buttons: list[Button] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Turn:
    uow: UnitOfWork
    conversation: Conversation
    customer: Customer
    message: Message
    parse: Parse | None
    state: DialogState
    language: str
    templates: Templates
    replies: list[Reply] = field(default_factory=list)
    # Side effects that write through their own transactions (gaps, article feedback) run after the
    # turn commits: on SQLite a second writer inside the turn's transaction would wait for itself.
    later: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # The knowledge base's verdict on the question (answer / suggest / unknown), kept on the message for reports.
    band: str | None = None
    # Why the bot says what it says, beyond intent and band: the articles it answered or offered, a gap.
    # Stamped on every reply of the turn, for the operator reading the conversation later.
    why: dict[str, Any] = field(default_factory=dict)
    # This is the error reply of a turn that raised (its own changes rolled back).
    failed: bool = False

    @property
    def text(self) -> str:
        return self.message.text

    @property
    def intent(self) -> str:
        return self.parse.intent.name if self.parse is not None else "out_of_scope"

    @property
    def confidence(self) -> float:
        return self.parse.intent.confidence if self.parse is not None else 0.0

    def entity(self, name: str) -> Any | None:
        if self.parse is None:
            return None
        for entity in self.parse.entities:
            if entity.entity == name:
                return entity.value
        return None

    def t(self, key: str, **params: Any) -> str:
        return self.templates.render(key, self.language, **params)

    def say(self, key: str, buttons: list[Button] | None = None, **params: Any) -> None:
        self.replies.append(Reply(self.t(key, **params), list(buttons or [])))

    def say_text(self, text: str, buttons: list[Button] | None = None, **meta: Any) -> None:
        self.replies.append(Reply(text, list(buttons or []), dict(meta)))

    def button(self, label_key: str, action: Action, arg: str = "") -> Button:
        return self.button_raw(self.t(label_key), action, arg)

    def button_raw(self, label: str, action: Action, arg: str = "") -> Button:
        """A button whose payload names an action, its argument and this conversation's nonce."""
        return Button(label=label[:64], payload=ButtonPayload(action=action, arg=arg, nonce=self.state.nonce).pack())
