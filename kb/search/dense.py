"""Dense side of the index: passage vectors and per-article matrices, addressed by slot, updated in place.

Per article (slot): the question-variant vectors (title and questions) and answer-chunk vectors, each kind in
one contiguous float32 arena; and three float32 rows used for every query: the normalised mean
of the variants (``cent``), the same mean whitened (``wcent``) and the normalised mean of the answer chunks
(``bcent``); plus ``probe`` = unit(cent + bcent), the one row per article a large index scans first.

Whitening: ``L`` is the Cholesky factor of ``(S_w + λ·tr(S_w)/d·I)^-1``, where ``S_w`` is the within-article
scatter of the variant vectors (summed over articles, kept up to date per article). ``L`` changes little when
one article changes, so it is recomputed only once the variants changed since the last computation exceed
``relearn_share`` of all variants (then every ``wcent`` row is recomputed: ~0.3 s at 10,000 articles).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["DenseStore"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def _unit(x: npt.NDArray[np.floating]) -> F32:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    out: F32 = (x / np.maximum(n, 1e-12)).astype(np.float32, copy=False)
    return out


class _Arena:
    """Rows of many articles in one float32 matrix; an article's rows are contiguous. Freed rows are reclaimed
    by compaction once they are a quarter of the arena."""

    def __init__(self, dim: int) -> None:
        self.rows = np.zeros((256, dim), dtype=np.float32)
        self.used = 0
        self.dead = 0
        self.span: dict[int, tuple[int, int]] = {}  # slot -> (start, end)
        self.start = np.full(64, -1, dtype=np.int64)  # the same, as arrays indexed by slot (-1: no rows)
        self.end = np.full(64, -1, dtype=np.int64)

    def _set_span(self, slot: int, a: int, b: int) -> None:
        if slot >= len(self.start):
            size = max(slot + 1, len(self.start) * 3 // 2)
            for name in ("start", "end"):
                arr = np.full(size, -1, dtype=np.int64)
                old = getattr(self, name)
                arr[: len(old)] = old
                setattr(self, name, arr)
        self.span[slot] = (a, b)
        self.start[slot] = a
        self.end[slot] = b

    def reserve(self, extra: int) -> None:
        """Make room for ``extra`` more rows (grown by half again, not doubled: at 10,000 articles this is
        most of the index's memory)."""
        need = self.used + extra
        if need <= len(self.rows):
            return
        grown = np.zeros((max(need, len(self.rows) * 3 // 2), self.rows.shape[1]), dtype=np.float32)
        grown[: self.used] = self.rows[: self.used]
        self.rows = grown

    def add(self, slot: int, x: F32) -> None:
        n = len(x)
        self.reserve(n)
        self.rows[self.used : self.used + n] = x
        self._set_span(slot, self.used, self.used + n)
        self.used += n

    def get(self, slot: int) -> F32 | None:
        span = self.span.get(slot)
        return None if span is None else self.rows[span[0] : span[1]]

    def drop(self, slot: int) -> None:
        span = self.span.pop(slot, None)
        if span is None:
            return
        self.start[slot] = self.end[slot] = -1
        self.dead += span[1] - span[0]
        if self.dead > 1024 and self.dead * 4 > self.used:
            self._compact()

    def _compact(self) -> None:
        rows = np.zeros_like(self.rows)
        at = 0
        for slot, (a, b) in sorted(self.span.items(), key=lambda kv: kv[1]):
            rows[at : at + b - a] = self.rows[a:b]
            self._set_span(slot, at, at + b - a)
            at += b - a
        self.rows, self.used, self.dead = rows, at, 0

    def best(self, q: F32, slots: npt.NDArray[np.int64], everything: bool) -> F32:
        """Per slot, the best cosine of ``q`` to its rows; NaN for slots without rows."""
        out = np.full(len(slots), np.nan, dtype=np.float32)
        inside = slots < len(self.start)
        st = np.full(len(slots), -1, dtype=np.int64)
        en = np.full(len(slots), -1, dtype=np.int64)
        st[inside] = self.start[slots[inside]]
        en[inside] = self.end[slots[inside]]
        where = np.flatnonzero(st >= 0)
        if not len(where):
            return out
        st, en = st[where], en[where]
        if everything:
            # all live rows in one product; read each slot's range out of it
            sims = self.rows[: self.used] @ q
        else:
            lengths = en - st
            packed = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            # row numbers of every range, without a Python loop: start of the range + position within it
            idx = np.repeat(st - packed, lengths) + np.arange(int(lengths.sum()))
            sims = self.rows[idx] @ q
            st = packed
            en = st + lengths
        # reduceat needs increasing, non-empty ranges: sort by start, then undo the order
        order = np.argsort(st, kind="stable")
        bounds = np.empty(2 * len(order), dtype=np.int64)
        bounds[0::2] = st[order]
        bounds[1::2] = en[order]
        sims_ext = np.concatenate([sims, np.zeros(1, dtype=sims.dtype)])
        maxima = np.maximum.reduceat(sims_ext, bounds)[0::2]
        res = np.empty(len(order), dtype=np.float32)
        res[order] = maxima
        out[where] = res
        return out


class DenseStore:
    def __init__(self, dim: int, shrinkage: float = 1.0, relearn_share: float = 0.1, capacity: int = 64) -> None:
        self.dim = dim
        self.shrinkage = shrinkage
        self.relearn_share = relearn_share
        self.cent = np.zeros((capacity, dim), dtype=np.float32)
        self.wcent = np.zeros((capacity, dim), dtype=np.float32)
        self.bcent = np.zeros((capacity, dim), dtype=np.float32)
        self.probe = np.zeros((capacity, dim), dtype=np.float32)  # unit(cent + bcent): first-stage recall
        self.has_variants = np.zeros(capacity, dtype=bool)
        self.has_body = np.zeros(capacity, dtype=bool)
        self.variants = _Arena(dim)
        self.chunks = _Arena(dim)
        self._scatter = np.zeros((dim, dim), dtype=np.float64)
        self._n_variants = 0
        self._changed = 0  # variants added or removed since L was computed
        self._n_at_learn = 0
        self.whitener: F32 = np.eye(dim, dtype=np.float32)
        self.relearns = 0

    @property
    def capacity(self) -> int:
        return int(self.cent.shape[0])

    def _grow(self, slot: int) -> None:
        cap = self.capacity
        if slot < cap:
            return
        new = max(slot + 1, cap * 3 // 2)
        for name in ("cent", "wcent", "bcent", "probe"):
            old = getattr(self, name)
            arr = np.zeros((new, self.dim), dtype=np.float32)
            arr[:cap] = old
            setattr(self, name, arr)
        for name in ("has_variants", "has_body"):
            old = getattr(self, name)
            arr_b = np.zeros(new, dtype=bool)
            arr_b[:cap] = old
            setattr(self, name, arr_b)

    @staticmethod
    def _residuals(x: F32) -> F32:
        out: F32 = x - x.mean(axis=0)
        return out

    def set(self, slot: int, variants: F32, chunks: F32) -> None:
        """Store an article's vectors (rows L2-normalised): title+question variants, answer chunks."""
        self.set_many([(slot, variants, chunks)])

    def set_many(self, items: list[tuple[int, F32, F32]]) -> None:
        """Store many articles at once (one product for the scatter, one for the whitened rows)."""
        for slot, _, _ in items:
            self.remove(slot)
        if not items:
            return
        self._grow(max(slot for slot, _, _ in items))
        self.variants.reserve(sum(len(v) for _, v, _ in items))
        self.chunks.reserve(sum(len(c) for _, _, c in items))
        with_variants: list[int] = []
        residuals: list[F32] = []
        for slot, variants, chunks in items:
            if len(variants):
                self.variants.add(slot, variants)
                self.cent[slot] = _unit(variants.mean(axis=0))
                self.has_variants[slot] = True
                with_variants.append(slot)
                residuals.append(self._residuals(variants))
            if len(chunks):
                self.chunks.add(slot, chunks)
                self.bcent[slot] = _unit(chunks.mean(axis=0))
                self.has_body[slot] = True
        slots = np.asarray([slot for slot, _, _ in items])
        self.probe[slots] = _unit(self.cent[slots] + self.bcent[slots])
        if with_variants:
            r = np.concatenate(residuals)
            self._scatter += (r.T @ r).astype(np.float64)
            self._n_variants += len(r)
            self._changed += len(r)
            rows = np.asarray(with_variants)
            # the direction of the whitened mean equals that of the whitened unit mean
            self.wcent[rows] = _unit(self.cent[rows] @ self.whitener)

    def remove(self, slot: int) -> None:
        old = self.variants.get(slot)
        if old is not None:
            r = self._residuals(old)
            self._scatter -= (r.T @ r).astype(np.float64)
            self._n_variants -= len(old)
            self._changed += len(old)
            self.variants.drop(slot)
        self.chunks.drop(slot)
        if slot < self.capacity:
            for arr in (self.cent, self.wcent, self.bcent, self.probe):
                arr[slot] = 0.0
            self.has_variants[slot] = False
            self.has_body[slot] = False

    def maybe_relearn(self, force: bool = False) -> bool:
        """Recompute the whitener when enough variants changed; True when it did."""
        if not force and self._changed <= self.relearn_share * max(self._n_at_learn, self._n_variants, 1):
            return False
        d = self.dim
        if self._n_variants > 0:
            sw = self._scatter / self._n_variants
            ridge = self.shrinkage * max(float(np.trace(sw)) / d, 1e-6)
            precision = np.linalg.inv(sw + ridge * np.eye(d))
            precision = (precision + precision.T) / 2
            # Scale so the whitened space has unit average variance; cosines do not depend on it.
            self.whitener = np.linalg.cholesky(precision / np.trace(precision) * d).astype(np.float32)
        else:
            self.whitener = np.eye(d, dtype=np.float32)
        slots = np.flatnonzero(self.has_variants)
        if len(slots):
            self.wcent[slots] = _unit(self.cent[slots] @ self.whitener)
        self._changed = 0
        self._n_at_learn = self._n_variants
        self.relearns += 1
        return True

    def whiten(self, q: F32) -> F32:
        return _unit(q @ self.whitener)

    def best(self, q: F32, slots: npt.NDArray[np.int64], which: str, everything: bool = False) -> F32:
        """Per slot, the best cosine of ``q`` to its ``which`` ("variants" | "chunks") rows; NaN when none.

        ``everything``: ``slots`` are all live articles, so one product over the whole arena is cheapest.
        """
        arena = self.variants if which == "variants" else self.chunks
        return arena.best(q, slots, everything)
