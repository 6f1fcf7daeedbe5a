"""BM25 over lemmatised tokens (bm25s), with cheap incremental updates.

bm25s builds an index in one go (about 1 s for 10,000 articles here), so one edited article must not rebuild
it. Documents (keyed by the caller's integer slot) live in two bm25s indexes:

* the *main* index, built from a snapshot of all documents;
* a *delta* index holding the documents added or changed since that snapshot (removed and replaced documents
  are masked out of the main one). The delta index also holds an evenly spaced sample of main documents that
  only feed its IDF statistics, so a fresh article is scored on about the same scale as the others.

Both are rebuilt lazily, on the first query after a change: the delta alone while it is small, the main
index (``compact``) when the corpus is small enough for that to be as cheap (``full_rebuild_limit``) or the
delta has grown past ``max_delta_share`` of the corpus.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["LexicalIndex"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

_EMPTY = "\x00"  # bm25s needs at least one token per document


class _Part:
    """One built bm25s index over ``slots`` (plus background rows that only count for IDF)."""

    def __init__(self, slots: list[int], corpus: list[list[str]]) -> None:
        self.slots: IntArray = np.asarray(slots, dtype=np.int64)
        self.row = {s: i for i, s in enumerate(slots)}
        self.mask = np.zeros(len(corpus), dtype=np.float32)
        self.mask[: len(slots)] = 1.0
        self.n_live = len(slots)
        self.retriever: Any = None
        if corpus:
            import bm25s

            self.retriever = bm25s.BM25()
            self.retriever.index([tokens or [_EMPTY] for tokens in corpus], show_progress=False)

    def drop(self, slot: int) -> None:
        i = self.row.get(slot)
        if i is not None and self.mask[i]:
            self.mask[i] = 0.0
            self.n_live -= 1

    def add_scores(self, tokens: list[str], out: FloatArray) -> None:
        if self.retriever is None or self.n_live == 0:
            return
        ids = self.retriever.get_tokens_ids(tokens)
        if not ids:
            return
        s = np.asarray(self.retriever.get_scores_from_ids(ids), dtype=np.float32)[: len(self.slots)]
        live = self.mask[: len(self.slots)] > 0
        out[self.slots[live]] = s[live]


class LexicalIndex:
    """BM25 over token lists keyed by integer slot; ``set``/``remove`` are cheap, ``scores`` is per query."""

    def __init__(self, full_rebuild_limit: int = 1000, max_delta_share: float = 0.05, background: int = 300) -> None:
        self.full_rebuild_limit = full_rebuild_limit
        self.max_delta_share = max_delta_share
        self.background = background
        self._docs: dict[int, list[str]] = {}
        self._main = _Part([], [])
        self._delta = _Part([], [])
        self._delta_slots: set[int] = set()
        self._stale = False
        self.rebuilds = 0  # full rebuilds so far
        self.delta_builds = 0

    def __len__(self) -> int:
        return len(self._docs)

    def set(self, slot: int, tokens: list[str]) -> None:
        self._docs[slot] = tokens
        self._main.drop(slot)
        self._delta_slots.add(slot)
        self._stale = True

    def set_many(self, items: Iterable[tuple[int, list[str]]]) -> None:
        for slot, tokens in items:
            self.set(slot, tokens)

    def remove(self, slot: int) -> None:
        if self._docs.pop(slot, None) is None:
            return
        self._main.drop(slot)
        self._delta.drop(slot)
        self._delta_slots.discard(slot)

    def compact(self) -> None:
        """Rebuild the main index from every document."""
        slots = list(self._docs)
        self._main = _Part(slots, [self._docs[s] for s in slots])
        self._delta = _Part([], [])
        self._delta_slots.clear()
        self._stale = False
        self.rebuilds += 1

    def refresh(self) -> None:
        """Bring the indexes up to date (done by ``scores`` anyway; call it to move the cost off a query)."""
        if not self._stale:
            return
        n = len(self._docs)
        if n <= self.full_rebuild_limit or len(self._delta_slots) > self.max_delta_share * n:
            self.compact()
            return
        slots = sorted(self._delta_slots)
        live_main = [int(s) for s in self._main.slots if int(s) in self._docs and int(s) not in self._delta_slots]
        step = max(1, len(live_main) // max(1, self.background))
        background = live_main[::step][: self.background]
        corpus = [self._docs[s] for s in slots] + [self._docs[s] for s in background]
        self._delta = _Part(slots, corpus)
        self._stale = False
        self.delta_builds += 1

    def scores(self, tokens: list[str], size: int) -> FloatArray:
        """BM25 of the query ``tokens`` as an array indexed by slot (length ``size``; 0 where no match)."""
        self.refresh()
        out = np.zeros(size, dtype=np.float32)
        if tokens and self._docs:
            self._main.add_scores(tokens, out)
            self._delta.add_scores(tokens, out)
        return out
