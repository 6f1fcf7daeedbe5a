"""The conversation view labels every delivery state a message can be in."""

from __future__ import annotations

import pytest

from core.models import DeliveryState
from core.templates import Templates


@pytest.mark.parametrize("language", ["ru", "en"])
def test_a_message_being_sent_does_not_break_the_conversation_view(templates: Templates, language: str) -> None:
    # A reply caught mid-send ("sending") or after a worker died mid-send ("unknown") once had no label, and the
    # conversation view failed to render while it was in that state.
    for state in DeliveryState:
        templates.render(f"inbox.delivery.{state.value}", language)
