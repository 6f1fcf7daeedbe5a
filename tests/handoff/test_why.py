"""Reading a bot message's "why" for the conversation view: what the engine stamped, and nothing from odd meta."""

from __future__ import annotations

from typing import Any

import pytest

from core.models import Author, Message
from handoff.why import Why, WhyArticle, why_of


def message(author: Author, meta: dict[str, Any]) -> Message:
    return Message(author=author, meta=meta)


def test_an_answer_reads_as_intent_band_and_article() -> None:
    stamped = {
        "intent": "ask_question",
        "confidence": 0.93,
        "band": "answer",
        "articles": [{"id": 10, "title": "Как сменить пароль от Wi-Fi", "confidence": 0.81}],
    }
    assert why_of(message(Author.BOT, {"why": stamped})) == Why(
        intent="ask_question",
        confidence=0.93,
        band="answer",
        articles=[WhyArticle(10, "Как сменить пароль от Wi-Fi", 0.81)],
        best=None,
        gap=False,
        picked=False,
    )


@pytest.mark.parametrize(
    "meta",
    [
        {},
        {"why": {}},
        {"why": "answer"},
        {"why": ["answer"]},
        {"intent": "greet", "band": "answer"},  # the inbound message's own stamp is not a reply's why
    ],
)
def test_a_bot_message_without_a_why_shows_none(meta: dict[str, Any]) -> None:
    assert why_of(message(Author.BOT, meta)) is None


def test_only_the_bots_messages_say_why() -> None:
    stamped = {"why": {"band": "answer", "intent": "ask_question"}}
    assert why_of(message(Author.CUSTOMER, stamped)) is None
    assert why_of(message(Author.OPERATOR, stamped)) is None


def test_odd_parts_are_left_out_not_shown() -> None:
    odd = {
        "intent": "",
        "confidence": True,
        "band": "<script>",
        "articles": [{"id": "7", "title": "x"}, "text", {"id": 3, "title": "<b>ok</b>", "confidence": "high"}],
        "best": {"title": "no id"},
        "gap": 1,
    }
    why = why_of(message(Author.BOT, {"why": odd}))
    assert why == Why(
        intent=None,
        confidence=None,
        band=None,
        articles=[WhyArticle(3, "<b>ok</b>", None)],  # escaped by the template when shown
        best=None,
        gap=True,
        picked=False,
    )
