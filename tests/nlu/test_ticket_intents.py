"""Issue 19 (2): create / add / cancel / status about tickets are told apart, in both languages.

Phrasings here are not in the training data verbatim: the test is of the data's coverage, not a lookup.
"""

from __future__ import annotations

import pytest

from nlu.engines.builtin import BuiltinEngine

CONFUSIONS = [
    ("создайте мне заявку, пожалуйста", "ru", "report_problem"),
    ("хочу оставить новую заявку", "ru", "report_problem"),
    ("оформите, пожалуйста, заявку на мастера", "ru", "report_problem"),
    ("отмените мою заявку T-000001", "ru", "cancel_ticket"),
    ("добавьте к заявке T-000001, что тв тоже не работает", "ru", "add_to_ticket"),
    ("что там с моей заявкой?", "ru", "ticket_status"),
    ("please create a ticket for me", "en", "report_problem"),
    ("i would like to open a ticket", "en", "report_problem"),
    ("cancel my ticket T-000001", "en", "cancel_ticket"),
    ("add to ticket T-000001 that the tv is down too", "en", "add_to_ticket"),
    ("what is the status of my ticket?", "en", "ticket_status"),
]


@pytest.mark.parametrize(("text", "language", "intent"), CONFUSIONS)
async def test_create_add_cancel_status_are_told_apart(
    builtin: BuiltinEngine, text: str, language: str, intent: str
) -> None:
    parse = await builtin.parse(text, language)
    assert parse.intent.name == intent, parse.intent_ranking[:3]
