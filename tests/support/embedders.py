"""Embedders that watch how they are called: from which thread, how many at once, with how many texts."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from nlu.embedding import Embedder


class Probe:
    """Wraps a real embedder (or makes unit vectors itself) and records every call.

    ``hold``: seconds each call lasts at least, so calls that are not serialised would overlap.
    """

    def __init__(self, inner: Embedder | None = None, *, dim: int = 8, hold: float = 0.0) -> None:
        self.inner = inner
        self.name = inner.name if inner is not None else "probe"
        self.dim = inner.dim if inner is not None else dim
        self.hold = hold
        self.threads: set[int] = set()
        self.batches: list[int] = []
        self.active = 0
        self.most_at_once = 0
        self._guard = threading.Lock()

    def _call(self, texts: Sequence[str], passages: bool) -> npt.NDArray[np.float32]:
        with self._guard:
            self.active += 1
            self.most_at_once = max(self.most_at_once, self.active)
            self.threads.add(threading.get_ident())
            self.batches.append(len(texts))
        try:
            time.sleep(self.hold)
            if self.inner is None:
                out = np.zeros((len(texts), self.dim), dtype=np.float32)
                out[:, 0] = 1.0
                return out
            return self.inner.embed_passages(texts) if passages else self.inner.embed_queries(texts)
        finally:
            with self._guard:
                self.active -= 1

    def embed_queries(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self._call(texts, passages=False)

    def embed_passages(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self._call(texts, passages=True)
