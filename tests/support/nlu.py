"""NLU test data: the repository's training data and the utterances every engine must understand."""

from __future__ import annotations

from core.settings import ROOT, Settings
from nlu.engines import NluEngine
from nlu.parse import Parse

DATA = ROOT / "data" / "nlu"

# Utterances both engines must understand: (text, language hint, intent, {entity: value}).
KEY_UTTERANCES: list[tuple[str, str | None, str, dict[str, object]]] = [
    ("где моя заявка T-000123", None, "ticket_status", {"ticket_number": "T-000123"}),
    ("что с заявкой 456?", None, "ticket_status", {"ticket_number": "T-000456"}),
    ("what's the status of ticket T-000777", None, "ticket_status", {"ticket_number": "T-000777"}),
    ("позовите живого оператора", None, "talk_to_human", {}),
    ("i want to talk to a real person", None, "talk_to_human", {}),
    ("у меня не работает интернет", None, "report_problem", {}),
    ("my internet is not working since yesterday", None, "report_problem", {"date": "yesterday"}),
    ("как подключить автоплатёж?", None, "ask_question", {}),
    ("how do i change my wifi password", None, "ask_question", {}),
    ("ставлю 5", "ru", "rate", {"rating": 5}),
    ("i'd give it a 4", "en", "rate", {"rating": 4}),
    ("какая завтра погода в москве", None, "out_of_scope", {"date": "завтра"}),
    ("what's the weather like in paris", None, "out_of_scope", {}),
    ("привет", None, "greet", {}),
    ("спасибо большое", None, "thanks", {}),
    ("отмените мою заявку T-000321", None, "cancel_ticket", {"ticket_number": "T-000321"}),
]


FAULT_TEXT = "сломай разбор"
"""What :func:`faulty_engine`'s parse raises on."""


class FaultyEngine:
    """The builtin engine, except that its parse raises on :data:`FAULT_TEXT`: a plugged engine with a bug."""

    name = "faulty"

    def __init__(self, builtin: NluEngine) -> None:
        self.builtin = builtin
        self.broken = True  # a test mends the engine by setting this to False

    async def parse(self, text: str, language: str | None = None) -> Parse:
        if self.broken and FAULT_TEXT in text.lower():
            raise RuntimeError("the faulty test engine cannot parse this")
        return await self.builtin.parse(text, language)

    async def close(self) -> None:
        await self.builtin.close()


def faulty_engine(settings: Settings, builtin: NluEngine) -> FaultyEngine:
    """The ``nlu_engine = "tests.support.nlu:faulty_engine"`` factory."""
    return FaultyEngine(builtin)
