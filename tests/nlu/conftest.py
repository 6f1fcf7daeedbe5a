"""Shared NLU fixtures: one builtin engine trained on data/nlu per test session (with the session's embedder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from nlu.embedding import Embedder
from nlu.engines import classifier_config
from nlu.engines.builtin import BuiltinEngine
from tests.support.nlu import DATA


@pytest.fixture(scope="session")
def nlu_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nlu-cache")


@pytest.fixture(scope="session")
def builtin(embedder: Embedder, nlu_cache_dir: Path) -> Iterator[BuiltinEngine]:
    """The builtin engine as configured by default, trained from data/nlu (synchronously: a session fixture)."""
    config = classifier_config(Settings(_env_file=None))  # type: ignore[call-arg]
    engine = BuiltinEngine(embedder, DATA, nlu_cache_dir, default_language="ru", config=config)
    engine.load_or_train()
    yield engine
    engine._executor.shutdown(wait=False)
