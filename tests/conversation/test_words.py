"""The typed-words list: matching rules and the loader's refusals (data/bot/words.yml is editable)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.words import Words, load_words, normalise
from core.datafiles import DataFileError
from core.settings import ROOT


@pytest.fixture(scope="module")
def words() -> Words:
    return load_words(ROOT / "data" / "bot" / "words.yml")


def test_a_description_is_not_a_typed_answer(words: Words) -> None:
    assert words.matches("нет, не помогло", words.deny, words.not_helped)
    assert not words.matches("нет интернета", words.deny, words.not_helped)
    assert not words.is_cancel("отменить заявку T-000001")
    assert words.is_cancel("отмена, уже не нужно")
    assert words.rating("ставлю 4") == 4


def test_create_ticket_is_found_anywhere_in_a_message(words: Words) -> None:
    assert words.mentions("Здравствуйте, хочу оставить заявку!", words.create_ticket)
    assert not words.mentions("хочу отменить заявку", words.create_ticket)


def test_shouting_normalises_to_the_same_question() -> None:
    assert normalise("КАК ОПЛАТИТЬ ИНТЕРНЕТ!!!!!!") == normalise("как оплатить интернет?") == "как оплатить интернет"


def test_an_unquoted_yaml_boolean_is_refused_with_its_key(tmp_path: Path) -> None:
    source = (ROOT / "data" / "bot" / "words.yml").read_text(encoding="utf-8").replace('"no"', "no")
    broken = tmp_path / "words.yml"
    broken.write_text(source, encoding="utf-8")
    with pytest.raises(DataFileError) as refused:
        load_words(broken)
    assert refused.value.key.startswith("deny")
