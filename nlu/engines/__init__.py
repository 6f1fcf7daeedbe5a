"""NLU engines behind one interface: ``await engine.parse(text, language) -> Parse``.

* ``builtin`` (default): trained in-process from ``data/nlu`` (see :mod:`nlu.engines.builtin`).
* ``rasa``: a Rasa server's ``/model/parse`` over HTTP, falling back to the builtin engine when Rasa fails
  (see :mod:`nlu.engines.rasa`).
* ``module:factory``: an engine of one's own: ``factory(settings, builtin)`` returns it (the builtin engine is
  there to fall back on, as Rasa does).

``parse`` never raises on bad input: empty text parses to ``out_of_scope`` with confidence 0.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from aiohttp import web

from core.web.keys import METRICS, SETTINGS
from nlu.keys import EMBEDDER, NLU_ENGINE
from nlu.parse import Parse

if TYPE_CHECKING:
    from core.settings import Settings
    from nlu.classifier import ClassifierConfig
    from nlu.embedding import Embedder

__all__ = ["NluEngine", "classifier_config", "create_nlu_engine", "nlu_engine_ctx"]


@runtime_checkable
class NluEngine(Protocol):
    name: str

    async def parse(self, text: str, language: str | None = None) -> Parse: ...

    async def close(self) -> None: ...


def classifier_config(settings: Settings) -> ClassifierConfig:
    """The builtin engine's classifier as configured: the expected out-of-scope share of traffic is a setting."""
    from nlu.classifier import ClassifierConfig

    return ClassifierConfig(oos_prior=settings.nlu_oos_prior)


async def create_nlu_engine(settings: Settings, embedder: Embedder, *, fallback_counter: Any = None) -> NluEngine:
    """The engine ``settings.nlu_engine`` names, ready to parse.

    The builtin model is loaded from ``var/nlu`` or trained from ``data/nlu`` when the data changed (in a
    worker thread). For ``rasa``, the builtin engine is built too: it answers while Rasa is failing.
    ``fallback_counter``: a prometheus Counter with a ``reason`` label, incremented on each fallback.
    """
    from nlu.engines.builtin import BuiltinEngine

    builtin = await BuiltinEngine.open(
        embedder,
        data_path=settings.data_dir / "nlu",
        cache_dir=settings.var_dir / "nlu",
        default_language=settings.default_language,
        config=classifier_config(settings),
    )
    if settings.nlu_engine == "builtin":
        return builtin
    if ":" in settings.nlu_engine:
        return _plugged_engine(settings, builtin)
    from nlu.engines.rasa import RasaEngine

    return RasaEngine(
        settings.rasa_url,
        fallback=builtin,
        timeout=settings.rasa_timeout,
        default_language=settings.default_language,
        fallback_counter=fallback_counter,
    )


def _plugged_engine(settings: Settings, builtin: NluEngine) -> NluEngine:
    """The engine a ``module:factory`` setting names; a clear error when it names nothing usable."""
    module_name, _, attribute = settings.nlu_engine.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"nlu_engine {settings.nlu_engine!r} names no factory: {exc}") from exc
    engine = factory(settings, builtin)
    if not isinstance(engine, NluEngine):
        raise TypeError(f"nlu_engine {settings.nlu_engine!r} returned {type(engine).__name__}, not an NLU engine")
    return engine


async def nlu_engine_ctx(app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context: the engine into ``NLU_ENGINE``; append after the embedder's context."""
    counter = None
    metrics = app.get(METRICS)
    if metrics is not None:
        counter = metrics.counter(
            "frontline_nlu_fallbacks", "NLU parses answered by the builtin engine because Rasa failed", ("reason",)
        )
    engine = await create_nlu_engine(app[SETTINGS], app[EMBEDDER], fallback_counter=counter)
    app[NLU_ENGINE] = engine
    yield
    await engine.close()
