from __future__ import annotations

import pytest

from nlu.entities import EntityExtractor, normalise_phone, normalise_ticket_number
from nlu.training_data import load_training_data
from tests.support.nlu import DATA


@pytest.fixture(scope="module")
def extractor() -> EntityExtractor:
    return EntityExtractor(load_training_data(DATA))


def _values(extractor: EntityExtractor, text: str, intent: str | None = None) -> dict[str, object]:
    return {e.entity: e.value for e in extractor.extract(text, intent)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("где моя заявка T-000123", "T-000123"),
        ("статус т-456", "T-000456"),
        ("что по заявке №123", "T-000123"),
        ("моя заявка № 4567 закрыта?", "T-004567"),
        ("заявка 123 когда будет выполнена", "T-000123"),
        ("ticket 45 please", "T-000045"),
        ("chto s moey zayavkoy nomer 321", "T-000321"),
        ("проверьте Т-000321", "T-000321"),
    ],
)
def test_ticket_numbers_are_normalised(extractor: EntityExtractor, text: str, expected: str) -> None:
    assert _values(extractor, text)["ticket_number"] == expected


def test_entities_of_a_rich_message(extractor: EntityExtractor) -> None:
    text = "не работает интернет, мой телефон +7 916 123-45-67, почта Olga.Ivanova@mail.ru, договор 4500123456"
    values = _values(extractor, text, "report_problem")
    assert values == {
        "phone": "+79161234567",
        "email": "olga.ivanova@mail.ru",
        "account_number": "4500123456",
    }
    ent = next(e for e in extractor.extract(text, "report_problem") if e.entity == "phone")
    assert text[ent.start : ent.end] == "+7 916 123-45-67"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ставлю 5", 5),
        ("на троечку", 3),
        ("пятёрка", 5),
        ("2 out of 5", 2),
        ("5 из 5", 5),
        ("⭐⭐⭐⭐", 4),
        ("one star", 1),
    ],
)
def test_rating_is_an_int(extractor: EntityExtractor, text: str, expected: int) -> None:
    assert _values(extractor, text, "rate")["rating"] == expected


def test_rating_only_when_rating(extractor: EntityExtractor) -> None:
    assert "rating" not in _values(extractor, "интернет не работает 2 дня", "report_problem")
    assert "rating" not in _values(extractor, "хорошо, давайте", "affirm")


def test_plans_dates_times(extractor: EntityExtractor) -> None:
    plans = [e.value for e in extractor.extract("как перейти с Люкса на стандартный тариф", "ask_question")]
    assert plans == ["premium", "standard"]
    assert _values(extractor, "upgrade to Premium", "ask_question") == {"plan": "premium"}
    found = [(e.entity, e.value) for e in extractor.extract("пришлите мастера завтра после 18:00", "report_problem")]
    assert found == [("date", "завтра"), ("time", "после 18:00")]
    found = [(e.entity, e.value) for e in extractor.extract("send someone on november 28 at 3:30pm", "report_problem")]
    assert found == [("date", "november 28"), ("time", "at 3:30pm")]


def test_normalisers() -> None:
    assert normalise_phone("8 (916) 123-45-67") == "+79161234567"
    assert normalise_phone("9161234567") == "+79161234567"
    assert normalise_phone("+44 20 7946 0958") == "+442079460958"
    assert normalise_ticket_number("№ 7") == "T-000007"
    assert normalise_ticket_number("нет цифр") is None


def test_annotated_entities_in_the_training_data_are_found(extractor: EntityExtractor) -> None:
    """The rules agree with the people who annotated data/nlu (time spans may differ by a preposition)."""
    data = load_training_data(DATA)
    found = missed = 0
    for example in data.examples:
        got = {(e.entity, e.start, e.end) for e in extractor.extract(example.text, example.intent)}
        for a in example.entities:
            hit = (a.entity, a.start, a.end) in got or any(
                n == a.entity and s <= a.start and a.end <= e for n, s, e in got
            )
            found += hit
            missed += not hit
    assert found / (found + missed) >= 0.97
