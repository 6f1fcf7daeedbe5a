"""The builtin NLU engine: trained in-process from ``data/nlu`` with the shared embedder.

The trained model is cached in ``var/nlu/builtin-<key>.pkl``, the key being a hash of the training data's
content, the embedder's name, the classifier settings and :data:`MODEL_VERSION`: a start with unchanged data
loads it (no training); changed data trains a new one, warm-started from the previous model, with the
embeddings of unchanged examples read from ``var/nlu/embeddings-<embedder>.npz``.

Malformed data raises :class:`~nlu.training_data.TrainingDataError` (file and line) and the model that was
serving keeps serving; at start, the last good model (``var/nlu/latest.json``) serves, with an error logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import pickle
import re
import tempfile
import threading
import time
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nlu.classifier import ClassifierConfig, IntentClassifier
from nlu.embedding import Embedder, locked
from nlu.entities import EntityExtractor
from nlu.language import detect_language
from nlu.parse import OUT_OF_SCOPE, Intent, Parse, empty_parse
from nlu.training_data import TrainingData, TrainingDataError, load_training_data

__all__ = [
    "MAX_PARSE_CHARS",
    "MODEL_VERSION",
    "BuiltinEngine",
    "EmbeddingCache",
    "ModelBundle",
    "TrainReport",
    "clean_text",
    "clear_memo",
    "train_bundle",
]

log = logging.getLogger(__name__)

MODEL_VERSION = "5"
"""Bump when the model's format or recipe changes: cached models of other versions are not loaded."""

MAX_PARSE_CHARS = 2000
"""Longer texts are parsed (and returned in ``Parse.text``) cut to this many characters."""

RANKING_SIZE = 10
KEEP_MODELS = 3

FloatArray = npt.NDArray[np.float32]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# In-process memo: several applications in one process (workers, tests) train or embed the same data once.
_MEMO_SIZE = 4
_bundles: dict[str, ModelBundle] = {}
_embeddings: dict[str, dict[str, FloatArray]] = {}
_memo_lock = threading.Lock()


def clear_memo() -> None:
    """Forget the in-process models and embeddings (the next start reads var/ or trains)."""
    with _memo_lock:
        _bundles.clear()
        _embeddings.clear()


def _remember(bundle: ModelBundle) -> None:
    with _memo_lock:
        _bundles.pop(bundle.key, None)
        _bundles[bundle.key] = bundle
        while len(_bundles) > _MEMO_SIZE:
            _bundles.pop(next(iter(_bundles)))


def clean_text(text: object) -> str:
    """Text as parsed: a ``str``, NFC, no control characters, stripped, at most :data:`MAX_PARSE_CHARS`."""
    s = text if isinstance(text, str) else ("" if text is None else str(text))
    s = _CONTROL.sub(" ", unicodedata.normalize("NFC", s))
    return s.strip()[:MAX_PARSE_CHARS].rstrip()


def _has_content(text: str) -> bool:
    return any(ch.isalnum() or unicodedata.category(ch).startswith("S") for ch in text)


class EmbeddingCache:
    """Query embeddings of training texts by content hash, persisted in one ``.npz`` per embedder.

    ``path=None`` keeps them in memory only. Each batch is one call into the embedder under its lock, so
    parses sharing the embedder interleave with a long training run.
    """

    def __init__(self, embedder: Embedder, path: Path | None, *, memo: bool = True) -> None:
        self.embedder = locked(embedder)
        self.path = path
        self._rows: dict[str, FloatArray] = {}
        if memo:
            with _memo_lock:
                self._rows = _embeddings.setdefault(f"{embedder.name}/{embedder.dim}", {})
        self._dirty = False
        if path is not None and path.exists() and not self._rows:
            try:
                with np.load(path) as z:
                    keys, vecs = z["keys"].tolist(), z["vecs"]
                if vecs.ndim == 2 and vecs.shape[1] == embedder.dim:
                    self._rows.update({str(k): vecs[i] for i, k in enumerate(keys)})
            except (OSError, ValueError, KeyError) as exc:  # a broken cache is only slower, never fatal
                log.warning("ignoring unreadable embedding cache %s: %s", path, exc)

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def embed(self, texts: Sequence[str], batch: int = 64) -> tuple[FloatArray, int]:
        """Embeddings of ``texts`` (rows in order) and how many had to be computed."""
        keys = [self._key(t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self._rows}.items())
        for i in range(0, len(missing), batch):
            chunk = missing[i : i + batch]
            vecs = self.embedder.embed_queries([t for _, t in chunk])
            for (k, _), v in zip(chunk, vecs, strict=True):
                self._rows[k] = np.asarray(v, dtype=np.float32)
            self._dirty = True
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32), 0
        return np.stack([self._rows[k] for k in keys]).astype(np.float32), len(missing)

    def save(self, keep: Sequence[str] | None = None) -> None:
        """Write the cache (only rows of ``keep`` texts when given, so it does not grow forever)."""
        if self.path is None or (not self._dirty and self.path.exists()):
            return
        rows = self._rows
        if keep is not None:
            wanted = {self._key(t) for t in keep}
            rows = {k: v for k, v in rows.items() if k in wanted}
        keys = np.array(list(rows), dtype=object).astype(str)
        vecs = np.stack(list(rows.values())) if rows else np.zeros((0, self.embedder.dim), np.float32)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, keys=keys, vecs=vecs.astype(np.float32))
        os.replace(tmp, self.path)
        self._dirty = False


@dataclass
class ModelBundle:
    """Everything a parse needs except the embedder: the classifier and the data for entity extraction."""

    classifier: IntentClassifier
    data: TrainingData
    fingerprint: str
    embedder_name: str
    key: str
    trained_at: float = field(default_factory=time.time)
    embed_seconds: float = 0.0
    embedded: int = 0

    def __post_init__(self) -> None:
        self.extractor = EntityExtractor(self.data)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("extractor", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.extractor = EntityExtractor(self.data)


@dataclass(frozen=True)
class TrainReport:
    trained: bool
    """False when the cached model was loaded."""
    key: str
    examples: int
    intents: int
    embedded: int
    """Examples whose embeddings had to be computed (the rest came from the cache)."""
    seconds: float
    threshold: float
    heldout_in_scope_accuracy: float | None
    heldout_oos_recall: float | None
    heldout_oos_precision: float | None


def model_key(fingerprint: str, embedder_name: str, config: ClassifierConfig) -> str:
    raw = json.dumps([MODEL_VERSION, fingerprint, embedder_name, config.key()])
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def train_bundle(
    data: TrainingData,
    cache: EmbeddingCache,
    config: ClassifierConfig | None = None,
    previous: ModelBundle | None = None,
) -> ModelBundle:
    """Train a model on ``data`` (embeddings through ``cache``); ``previous`` warm-starts the solver."""
    cfg = config or ClassifierConfig()
    texts = [e.text for e in data.examples]
    labels = [e.intent for e in data.examples]
    started = time.perf_counter()
    emb, embedded = cache.embed(texts)
    embed_seconds = time.perf_counter() - started
    clf = IntentClassifier.train(
        texts,
        labels,
        emb,
        oos_label=OUT_OF_SCOPE,
        config=cfg,
        previous=previous.classifier if previous is not None else None,
    )
    fingerprint = data.fingerprint()
    return ModelBundle(
        classifier=clf,
        data=data,
        fingerprint=fingerprint,
        embedder_name=cache.embedder.name,
        key=model_key(fingerprint, cache.embedder.name, cfg),
        embed_seconds=embed_seconds,
        embedded=embedded,
    )


def safe_name(name: str) -> str:
    return re.sub(r"[^\w.+-]", "_", name)


class BuiltinEngine:
    """Parses with an in-process model; see the module docstring for training and caching."""

    name = "builtin"

    def __init__(
        self,
        embedder: Embedder,
        data_path: Path,
        cache_dir: Path | None,
        *,
        default_language: str = "ru",
        config: ClassifierConfig | None = None,
        embedding_cache: EmbeddingCache | None = None,
    ) -> None:
        self.embedder = locked(embedder)
        self._fixed_cache = embedding_cache
        self.data_path = Path(data_path)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.default_language = default_language
        self.config = config or ClassifierConfig()
        self._bundle: ModelBundle | None = None
        self._train_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlu-parse")
        self.last_report: TrainReport | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls,
        embedder: Embedder,
        data_path: Path,
        cache_dir: Path | None,
        *,
        default_language: str = "ru",
        config: ClassifierConfig | None = None,
    ) -> BuiltinEngine:
        """An engine with a model: cached, trained now (in a thread), or the last good one if data is broken."""
        engine = cls(embedder, data_path, cache_dir, default_language=default_language, config=config)
        try:
            await asyncio.to_thread(engine.load_or_train)
        except TrainingDataError:
            if not await asyncio.to_thread(engine.load_latest):
                raise
            log.exception("NLU training data is malformed; serving the previous model %s", engine.model_key)
        return engine

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def ready(self) -> bool:
        return self._bundle is not None

    @property
    def model_key(self) -> str | None:
        return self._bundle.key if self._bundle is not None else None

    @property
    def bundle(self) -> ModelBundle | None:
        return self._bundle

    def _model_path(self, key: str) -> Path | None:
        return self.cache_dir / f"builtin-{key}.pkl" if self.cache_dir is not None else None

    def _latest_path(self) -> Path | None:
        return self.cache_dir / "latest.json" if self.cache_dir is not None else None

    @classmethod
    def from_bundle(cls, embedder: Embedder, bundle: ModelBundle, *, default_language: str = "ru") -> BuiltinEngine:
        """An engine serving an already trained model (benchmarks, tools); it cannot retrain."""
        engine = cls(embedder, Path(), None, default_language=default_language, config=bundle.classifier.config)
        engine._bundle = bundle
        return engine

    def _embedding_cache(self) -> EmbeddingCache:
        if self._fixed_cache is not None:
            return self._fixed_cache
        path = (
            self.cache_dir / f"embeddings-{safe_name(self.embedder.name)}.npz" if self.cache_dir is not None else None
        )
        return EmbeddingCache(self.embedder, path)

    def load_or_train(self, force: bool = False) -> TrainReport:
        """Load the model for the current data from the cache, or train it. Thread-safe; blocking.

        Raises TrainingDataError for malformed data, leaving the serving model in place.
        """
        with self._train_lock:
            started = time.perf_counter()
            data = load_training_data(self.data_path)
            key = model_key(data.fingerprint(), self.embedder.name, self.config)
            bundle = None if force else self._load(key)
            trained = bundle is None
            if bundle is None:
                previous = self._bundle or self._load_latest_bundle()
                cache = self._embedding_cache()
                bundle = train_bundle(data, cache, self.config, previous)
                cache.save(keep=[e.text for e in data.examples])
                self._save(bundle)
            self._bundle = bundle
            cal = bundle.classifier.calibration
            report = TrainReport(
                trained=trained,
                key=bundle.key,
                examples=len(data.examples),
                intents=len(data.intents),
                embedded=bundle.embedded if trained else 0,
                seconds=round(time.perf_counter() - started, 3),
                threshold=round(bundle.classifier.threshold, 4),
                heldout_in_scope_accuracy=None if cal is None else round(cal.in_scope_accuracy, 4),
                heldout_oos_recall=None if cal is None else round(cal.oos_recall, 4),
                heldout_oos_precision=None if cal is None else round(cal.oos_precision, 4),
            )
            self.last_report = report
            log.info(
                "NLU model %s %s: %d examples, %d intents, %.1f s",
                report.key,
                "trained" if trained else "loaded from cache",
                report.examples,
                report.intents,
                report.seconds,
            )
            return report

    async def reload(self, force: bool = False) -> TrainReport:
        """Retrain if the data changed (in a thread); malformed data raises and the current model stays."""
        return await asyncio.to_thread(self.load_or_train, force)

    def load_latest(self) -> bool:
        """Serve the last model that trained successfully; False when there is none."""
        bundle = self._load_latest_bundle()
        if bundle is None:
            return False
        self._bundle = bundle
        return True

    def _load_latest_bundle(self) -> ModelBundle | None:
        latest = self._latest_path()
        if latest is None or not latest.exists():
            return None
        try:
            key = str(json.loads(latest.read_text())["key"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return self._load(key)

    def _load(self, key: str) -> ModelBundle | None:
        memo = _bundles.get(key)
        if memo is not None and memo.embedder_name == self.embedder.name:
            self._save(memo, only_if_missing=True)
            return memo
        path = self._model_path(key)
        if path is None or not path.exists():
            return None
        try:
            with path.open("rb") as f:
                # Our own file, written by _save below into var/ (not user-supplied input).
                bundle = pickle.load(f)  # noqa: S301
        except Exception as exc:  # a corrupt or incompatible cache file means "train again"
            log.warning("ignoring unreadable NLU model %s: %s", path, exc)
            return None
        if not isinstance(bundle, ModelBundle) or bundle.key != key or bundle.embedder_name != self.embedder.name:
            return None
        _remember(bundle)
        return bundle

    def _save(self, bundle: ModelBundle, only_if_missing: bool = False) -> None:
        _remember(bundle)
        path = self._model_path(bundle.key)
        latest = self._latest_path()
        if path is None or latest is None or (only_if_missing and path.exists()):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".pkl.tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(bundle, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json.tmp")
        with os.fdopen(fd, "w") as f:
            json.dump({"key": bundle.key, "fingerprint": bundle.fingerprint, "trained_at": bundle.trained_at}, f)
        os.replace(tmp, latest)
        old = sorted(path.parent.glob("builtin-*.pkl"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in old[KEEP_MODELS:]:
            with contextlib.suppress(OSError):
                stale.unlink()

    # ------------------------------------------------------------------ parsing

    async def parse(self, text: str, language: str | None = None) -> Parse:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self.parse_sync, text, language)
        except RuntimeError:  # executor shut down while closing: parse inline
            return self.parse_sync(text, language)

    def parse_sync(self, text: str, language: str | None = None) -> Parse:
        """The parse of ``text``; never raises for any input."""
        cleaned = clean_text(text)
        lang = detect_language(cleaned, language, self.default_language)
        bundle = self._bundle
        if not cleaned or not _has_content(cleaned) or bundle is None:
            return empty_parse(cleaned, lang)
        try:
            emb = self.embedder.embed_queries([cleaned])
            pred = bundle.classifier.predict([cleaned], emb)[0]
        except Exception:  # the engine answers "don't know" rather than failing the conversation
            log.exception("NLU classification failed")
            return empty_parse(cleaned, lang)
        ranking = [Intent(name=n, confidence=_unit(c)) for n, c in pred.ranking[:RANKING_SIZE]]
        try:
            entities = bundle.extractor.extract(cleaned, pred.intent)
        except Exception:
            log.exception("NLU entity extraction failed")
            entities = []
        return Parse(
            text=cleaned,
            intent=Intent(name=pred.intent, confidence=_unit(pred.confidence)),
            intent_ranking=ranking,
            entities=entities,
            language=lang,
        )


def _unit(x: float) -> float:
    return float(min(1.0, max(0.0, round(x, 6))))
