"""``frontline nlu ...`` end to end (the real embedder; the model comes from the in-process memo or var/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from nlu.engines.builtin import BuiltinEngine
from nlu.parse import INTENTS


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, builtin: BuiltinEngine) -> Path:
    # `builtin` trains the model of data/nlu once per session; the CLI then finds it in memory.
    monkeypatch.setenv("FRONTLINE_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("FRONTLINE_EMBEDDING_THREADS", "1")
    monkeypatch.setenv("FRONTLINE_NLU_ENGINE", "builtin")
    return tmp_path


def test_parse_prints_the_parse_json(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nlu", "parse", "где моя заявка T-000123"]) == 0
    parse = json.loads(capsys.readouterr().out)
    assert parse["intent"]["name"] == "ticket_status"
    assert [(e["entity"], e["value"]) for e in parse["entities"]] == [("ticket_number", "T-000123")]
    assert parse["language"] == "ru"
    assert parse["text"] == "где моя заявка T-000123"


def test_parse_with_language_hint(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nlu", "parse", "👍", "--lang", "en"]) == 0
    assert json.loads(capsys.readouterr().out)["language"] == "en"


def test_train_then_cached(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nlu", "train"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["examples"] > 1000
    assert report["intents"] == len(INTENTS)
    assert (env / "nlu" / f"builtin-{report['key']}.pkl").exists()


def test_cross_validation_report(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nlu", "test", "--folds", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["intents"]) >= {"ticket_status", "out_of_scope", "rate"}
    assert report["accuracy"] > 0.8
    for scores in report["intents"].values():
        assert set(scores) == {"precision", "recall", "f1", "support"}
    assert all({"expected", "predicted", "count", "examples"} <= set(c) for c in report["confusions"])
