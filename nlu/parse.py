"""What NLU returns: a parse with the shape of Rasa's ``/model/parse`` answer.

``Parse.model_dump()`` is accepted by anything that reads Rasa's JSON (``text``, ``intent``,
``intent_ranking``, ``entities``); ``language`` is ours (Rasa has no such field).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "ENTITY_NAMES",
    "FALLBACK_INTENT",
    "INTENTS",
    "OUT_OF_SCOPE",
    "Entity",
    "Intent",
    "Parse",
    "empty_parse",
]

OUT_OF_SCOPE = "out_of_scope"
"""The intent of anything the product does not handle (also what empty or unreadable input parses to)."""

FALLBACK_INTENT = "nlu_fallback"
"""Rasa's FallbackClassifier intent; the Rasa engine maps it to :data:`OUT_OF_SCOPE`."""

INTENTS = (
    "greet",
    "goodbye",
    "thanks",
    "ask_question",
    "report_problem",
    "ticket_status",
    "add_to_ticket",
    "cancel_ticket",
    "talk_to_human",
    "complaint",
    "affirm",
    "deny",
    "rate",
    "change_language",
    "portal_link",
    OUT_OF_SCOPE,
)
"""The product's intents: the conversation engine relies on exactly these names."""

ENTITY_NAMES = ("ticket_number", "rating", "phone", "email", "account_number", "date", "time", "plan")
"""Entity names the conversation engine reads."""


class Intent(BaseModel):
    name: str
    confidence: float = Field(ge=0.0, le=1.0)


class Entity(BaseModel):
    """One entity; ``start``/``end`` are character offsets into ``Parse.text``.

    ``value`` is normalised: ticket_number ``"T-000123"``, rating ``int`` 1..5, phone ``"+7XXXXXXXXXX"``,
    plan ``"standard"``/``"premium"``; other entities keep the matched text (or a synonym's value).
    """

    entity: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    value: str | int
    extractor: str
    confidence: float | None = None


class Parse(BaseModel):
    text: str
    intent: Intent
    intent_ranking: list[Intent] = Field(default_factory=list)
    entities: list[Entity] = Field(default_factory=list)
    language: str

    def entity(self, name: str) -> Entity | None:
        """The first entity called ``name``, if any."""
        return next((e for e in self.entities if e.entity == name), None)


def empty_parse(text: str, language: str) -> Parse:
    """The parse of input with nothing to classify: out_of_scope with confidence 0."""
    intent = Intent(name=OUT_OF_SCOPE, confidence=0.0)
    return Parse(text=text, intent=intent, intent_ranking=[intent], entities=[], language=language)
