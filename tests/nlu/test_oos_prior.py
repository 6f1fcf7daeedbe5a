"""The expected out-of-scope share of traffic is a product setting that the engine (and the NLU bench) use."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings
from nlu.embedding import Embedder
from nlu.engines import classifier_config, create_nlu_engine
from nlu.engines.builtin import BuiltinEngine


def test_the_prior_comes_from_the_environment_and_must_be_a_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTLINE_NLU_OOS_PRIOR", "0.35")
    assert classifier_config(Settings(_env_file=None)).oos_prior == 0.35  # type: ignore[call-arg]
    for nonsense in ("0", "1", "-0.2", "lots"):
        monkeypatch.setenv("FRONTLINE_NLU_OOS_PRIOR", nonsense)
        with pytest.raises(ValidationError, match="nlu_oos_prior"):
            Settings(_env_file=None)  # type: ignore[call-arg]


async def test_the_engine_the_app_builds_calibrates_for_the_configured_prior(
    embedder: Embedder, tmp_path: Path
) -> None:
    settings = Settings(_env_file=None, var_dir=tmp_path)  # type: ignore[call-arg]
    engine = await create_nlu_engine(settings, embedder)
    try:
        assert isinstance(engine, BuiltinEngine)
        assert engine.config.oos_prior == settings.nlu_oos_prior
        assert engine.bundle is not None
        assert engine.bundle.classifier.config == classifier_config(settings)
    finally:
        await engine.close()
