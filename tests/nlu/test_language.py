from __future__ import annotations

import pytest

from nlu.language import detect_language, detransliterate, is_transliterated_russian


@pytest.mark.parametrize(
    ("text", "hint", "expected"),
    [
        ("у меня не работает интернет", None, "ru"),
        ("my internet is down", None, "en"),
        ("my internet is down", "ru", "en"),
        ("ne rabotaet internet", None, "ru"),
        ("ne rabotaet internet", "en", "ru"),
        ("gde moya zayavka", None, "ru"),
        ("privet, pomogite pozhaluysta", None, "ru"),
        ("the internet is not working", None, "en"),
        ("no internet", None, "en"),
        ("🙂🔥", "en", "en"),
        ("🙂🔥", "ru", "ru"),
        ("12345", None, "ru"),
        ("", "en", "en"),
        ("привет, my internet не работает совсем", None, "ru"),
        ("please help me, интернет", "en", "en"),
        ("T-000123", "ru", "ru"),
        ("T-000123?", "en", "en"),
        ("ivan.petrov@mail.ru", "ru", "ru"),
        ("статус T-000123", "en", "ru"),
    ],
)
def test_detect_language(text: str, hint: str | None, expected: str) -> None:
    assert detect_language(text, hint) == expected


def test_unknown_hint_falls_back_to_default() -> None:
    assert detect_language("👍", "de", default="en") == "en"


def test_transliteration() -> None:
    assert is_transliterated_russian("ne rabotaet internet")
    assert not is_transliterated_russian("my router is broken")
    assert detransliterate("ne rabotaet internet") == "не работает интернет"
    # ticket numbers and e-mails survive
    assert "T-000123" in detransliterate("gde zayavka T-000123")
    assert "ivan@mail.ru" in detransliterate("pochta ivan@mail.ru")
