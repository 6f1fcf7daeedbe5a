"""The conversation view names every delivery state of a message, in both languages.

A reply caught while a worker hands it to its channel is ``sending`` (and ``unknown`` after a worker died
mid-send); the thread once had no words for them, so rendering it failed at those moments.
"""

from __future__ import annotations

import pytest

from core.models import DeliveryState
from core.settings import ROOT
from core.templates import Templates


@pytest.mark.parametrize("language", ["ru", "en"])
def test_a_reply_being_sent_does_not_break_the_conversation_view(language: str) -> None:
    templates = Templates.load(ROOT / "data" / "templates")
    for state in DeliveryState:
        templates.render(f"inbox.delivery.{state.value}", language)  # raises TemplateError when missing
    assert templates.render("inbox.delivery.sending", language)
    assert templates.render("inbox.delivery.unknown", language)
