"""The builtin engine with the real embedder, trained on the repository's data/nlu."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nlu.embedding import Embedder
from nlu.engines import NluEngine
from nlu.engines.builtin import MAX_PARSE_CHARS, BuiltinEngine, clear_memo
from nlu.parse import INTENTS, OUT_OF_SCOPE, Parse
from nlu.training_data import TrainingDataError
from tests.support.nlu import DATA, KEY_UTTERANCES


def _check_shape(parse: Parse) -> None:
    assert parse.intent.name in INTENTS
    assert 0.0 <= parse.intent.confidence <= 1.0
    assert parse.intent_ranking
    assert parse.intent_ranking[0].name == parse.intent.name
    assert parse.language in ("ru", "en")
    for e in parse.entities:
        assert 0 <= e.start <= e.end <= len(parse.text)


def test_is_an_nlu_engine(builtin: BuiltinEngine) -> None:
    assert isinstance(builtin, NluEngine)
    assert builtin.name == "builtin"


@pytest.mark.parametrize(("text", "hint", "intent", "entities"), KEY_UTTERANCES)
async def test_key_utterances(
    builtin: BuiltinEngine, text: str, hint: str | None, intent: str, entities: dict[str, object]
) -> None:
    parse = await builtin.parse(text, hint)
    _check_shape(parse)
    assert parse.intent.name == intent, parse.intent_ranking[:3]
    assert {e.entity: e.value for e in parse.entities} == entities


async def test_report_problem_vs_ask_question(builtin: BuiltinEngine) -> None:
    problem = await builtin.parse("интернет пропал, ничего не грузит")
    question = await builtin.parse("как настроить роутер?")
    assert (problem.intent.name, question.intent.name) == ("report_problem", "ask_question")


async def test_languages_and_transliteration(builtin: BuiltinEngine) -> None:
    assert (await builtin.parse("привет")).language == "ru"
    assert (await builtin.parse("hello there")).language == "en"
    translit = await builtin.parse("ne rabotaet internet", "en")
    assert (translit.language, translit.intent.name) == ("ru", "report_problem")
    mixed = await builtin.parse("у меня router не работает, help")
    assert (mixed.language, mixed.intent.name) == ("ru", "report_problem")


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x01"])
async def test_empty_text_is_out_of_scope_with_zero_confidence(builtin: BuiltinEngine, text: str) -> None:
    parse = await builtin.parse(text, "en")
    assert (parse.intent.name, parse.intent.confidence, parse.entities) == (OUT_OF_SCOPE, 0.0, [])
    assert parse.language == "en"


@pytest.mark.parametrize(
    "text",
    [
        "интернет не работает " * 500,  # 10,500 characters
        "x" * 10_000,
        "🙂🔥💳",
        "👍",
        "....!!!???",
        "где заявка T-000123 " + "🙂" * 3000,
        "a\x00b\u200bc",
        "Привет, can you help me with my заявка?",
    ],
)
async def test_bad_input_never_raises(builtin: BuiltinEngine, text: str) -> None:
    parse = await builtin.parse(text)
    _check_shape(parse)
    assert len(parse.text) <= MAX_PARSE_CHARS


async def test_long_text_keeps_its_entities(builtin: BuiltinEngine) -> None:
    parse = await builtin.parse("где моя заявка T-000123? " + "очень жду ответа " * 700)
    assert parse.entity("ticket_number") is not None
    assert parse.entity("ticket_number").value == "T-000123"  # type: ignore[union-attr]


def _copy_data(tmp_path: Path) -> Path:
    target = tmp_path / "nlu"
    shutil.copytree(DATA, target)
    return target


async def test_second_start_loads_the_cached_model(embedder: Embedder, tmp_path: Path) -> None:
    data = _copy_data(tmp_path)
    cache = tmp_path / "var"
    clear_memo()
    first = await BuiltinEngine.open(embedder, data, cache)
    assert first.last_report is not None
    assert first.last_report.trained
    clear_memo()  # a new process: nothing in memory
    second = await BuiltinEngine.open(embedder, data, cache)
    assert second.last_report is not None
    assert not second.last_report.trained
    assert second.model_key == first.model_key
    assert (await second.parse("позовите оператора")).intent.name == "talk_to_human"
    # A small change retrains, computing the embedding of the new example only.
    with (data / "ru.yml").open("a", encoding="utf-8") as f:
        f.write("\n- intent: talk_to_human\n  examples: |\n    - дайте мне поговорить с человеком срочно\n")
    clear_memo()
    third = await BuiltinEngine.open(embedder, data, cache)
    assert third.last_report is not None
    assert third.last_report.trained
    assert third.last_report.embedded == 1
    assert third.model_key != first.model_key
    for engine in (first, second, third):
        await engine.close()


async def test_malformed_data_keeps_the_previous_model(embedder: Embedder, tmp_path: Path) -> None:
    data = _copy_data(tmp_path)
    cache = tmp_path / "var"
    engine = await BuiltinEngine.open(embedder, data, cache)
    key = engine.model_key
    good = (data / "en.yml").read_text(encoding="utf-8")
    (data / "en.yml").write_text(good + "- intent: greet\n  examples: |\n    - hi\n   - broken: [\n", encoding="utf-8")
    lines = len(good.splitlines())
    with pytest.raises(TrainingDataError) as err:
        await engine.reload()
    assert err.value.path == str(data / "en.yml")
    assert err.value.line == lines + 4
    assert engine.model_key == key
    assert (await engine.parse("где моя заявка T-000123")).intent.name == "ticket_status"
    # A restart with the broken data serves the last good model instead of failing.
    clear_memo()
    restarted = await BuiltinEngine.open(embedder, data, cache)
    assert restarted.model_key == key
    assert (await restarted.parse("позовите оператора")).intent.name == "talk_to_human"
    # With no previous model at all, the start fails with the file and line.
    with pytest.raises(TrainingDataError):
        await BuiltinEngine.open(embedder, data, tmp_path / "empty-var")
    await engine.close()
    await restarted.close()
