"""A per-text disk cache of embeddings for the benchmarks (under /tmp, never in the repo)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nlu.embedding import Embedder

CACHE_DIR = Path(os.environ.get("FRONTLINE_KB_EMB_CACHE", "/tmp/frontline-kb-emb"))


class CachedEmbedder:
    """Wraps an :class:`Embedder`; texts already embedded (by name, mode and text) come from disk."""

    def __init__(self, inner: Embedder, folder: Path = CACHE_DIR) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.parts = getattr(inner, "parts", None)  # a multi-part embedder is scored part by part
        self._path = folder / f"{inner.name.replace('/', '_').replace(':', '_')}.npz"
        self._rows: dict[str, npt.NDArray[np.float32]] = {}
        self._dirty = False
        if self._path.exists():
            with np.load(self._path) as z:
                for k, v in zip(z["keys"].tolist(), z["vecs"], strict=True):
                    self._rows[k] = v

    def _get(self, texts: Sequence[str], mode: str) -> npt.NDArray[np.float32]:
        keys = [hashlib.sha1(f"{mode}\x1f{t}".encode()).hexdigest() for t in texts]
        missing = sorted({(k, t) for k, t in zip(keys, texts, strict=True) if k not in self._rows})
        if missing:
            embed = self.inner.embed_queries if mode == "q" else self.inner.embed_passages
            vecs = embed([t for _, t in missing])
            for (k, _), v in zip(missing, vecs, strict=True):
                self._rows[k] = v
            self._dirty = True
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._rows[k] for k in keys]).astype(np.float32)

    def embed_queries(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self._get(texts, "q")

    def embed_passages(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self._get(texts, "p")

    def save(self) -> None:
        if not self._dirty:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._rows), dtype="<U40")
        vecs = np.stack(list(self._rows.values())).astype(np.float32)
        tmp = self._path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vecs=vecs)
        tmp.replace(self._path)
        self._dirty = False
