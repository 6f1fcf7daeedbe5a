from __future__ import annotations

from pathlib import Path

import pytest

from nlu.parse import ENTITY_NAMES, INTENTS
from nlu.training_data import TrainingDataError, load_training_data, parse_annotated
from tests.support.nlu import DATA


def test_repository_data_has_every_intent_and_entity() -> None:
    data = load_training_data(DATA)
    assert set(data.intents) == set(INTENTS)
    assert set(ENTITY_NAMES) <= set(data.entity_names)
    assert data.synonyms["люкс"] == "premium"
    assert data.synonyms["пятёрка"] == "5"
    assert {r.name for r in data.regexes} >= {"ticket_number", "phone", "email", "account_number"}
    for intent in INTENTS:
        assert sum(1 for e in data.examples if e.intent == intent) >= 80  # ~40+ per language


@pytest.mark.parametrize(
    ("raw", "text", "entities"),
    [
        ("где [T-000123](ticket_number)", "где T-000123", [("ticket_number", 4, 12, "T-000123")]),
        ("на [Люкс](plan:premium)", "на Люкс", [("plan", 3, 7, "premium")]),
        ('[пять]{"entity": "rating", "value": "5"} звёзд', "пять звёзд", [("rating", 0, 4, "5")]),
        (
            '[Москва][{"entity": "city"}, {"entity": "place", "value": "msk"}]',
            "Москва",
            [("city", 0, 6, "Москва"), ("place", 0, 6, "msk")],
        ),
        ("без разметки [в скобках]", "без разметки [в скобках]", []),
    ],
)
def test_annotations(raw: str, text: str, entities: list[tuple[str, int, int, str]]) -> None:
    ex = parse_annotated(raw)
    assert ex.text == text
    assert [(a.entity, a.start, a.end, a.value) for a in ex.entities] == entities


def _write(tmp_path: Path, body: str, name: str = "bad.yml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


GOOD = 'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - привет\n    - hello\n'


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        (GOOD + "- intent: bye\n  examples: |\n    - пока\n   - bad indent: [x\n", 10, "YAML"),
        (GOOD + '- intent: bye\n  examples: |\n    - пока\n    - [ой]{"entity": }\n', 10, "JSON"),
        (GOOD + "- regex: phone\n  examples: |\n    - (\\d+\n", 9, "regex"),
        (GOOD + "- intent: bye\n", 7, "examples"),
        (GOOD + "- intent: bye\n  examples: |\n    - пока\n    без дефиса\n", 10, "must start"),
        (GOOD + "- foo: bar\n  examples: |\n    - x\n", 7, "exactly one"),
        ("nlu: 5\n", 1, "list"),
    ],
)
def test_malformed_data_names_file_and_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(TrainingDataError) as err:
        load_training_data(tmp_path)
    assert err.value.path == str(path)
    assert err.value.line == line
    assert str(err.value.message).startswith(f"{path}:{line}:")
    assert words in err.value.message


def test_other_sections_and_empty_files_are_ignored(tmp_path: Path) -> None:
    _write(tmp_path, GOOD + "rules:\n- rule: x\n  steps: []\n", "a.yml")
    _write(tmp_path, "", "b.yml")
    data = load_training_data(tmp_path)
    assert [e.text for e in data.examples] == ["привет", "hello"]


def test_fingerprint_ignores_comments_but_not_examples(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, "a.yml")
    first = load_training_data(tmp_path).fingerprint()
    path.write_text("# a comment\n" + GOOD, encoding="utf-8")
    assert load_training_data(tmp_path).fingerprint() == first
    path.write_text(GOOD + "    - хай\n", encoding="utf-8")
    assert load_training_data(tmp_path).fingerprint() != first
