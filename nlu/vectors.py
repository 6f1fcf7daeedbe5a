"""Stored vectors: one shape and one byte codec for every table that keeps an embedding.

Article chunks, gaps, tickets and incidents each store a vector the same way, in three columns:

* ``embedder`` — the name of the embedder that made it (``Embedder.name``, e.g. ``use-multilingual``);
* ``dim`` — how many numbers it has;
* ``vector`` — the numbers as float32, little-endian, ``4 * dim`` bytes.

A stored vector is usable only by the embedder that made it: after a change of model the old vectors are
not compared with new ones (their cosines mean nothing) but recomputed. The byte order is fixed rather than
the machine's own, so a database moved between machines reads the same numbers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from nlu.embedding import Embedder

__all__ = [
    "DTYPE",
    "EMBEDDER_CHARS",
    "FloatArray",
    "OptionalVectorColumns",
    "VectorColumns",
    "VectorError",
    "columns",
    "decode",
    "encode",
    "read",
    "usable",
    "write",
]

FloatArray = npt.NDArray[np.float32]

DTYPE = np.dtype("<f4")
"""How a stored vector's numbers are laid out: float32, little-endian."""
EMBEDDER_CHARS = 200
"""Room for an embedder's name (``st:<path>`` names can be long)."""


class VectorError(ValueError):
    """Bytes that do not hold the vector their row says they hold."""


def encode(vector: npt.ArrayLike) -> bytes:
    """The stored bytes of one vector (any float array of one dimension)."""
    array = np.asarray(vector, dtype=np.float32)
    if array.ndim != 1:
        raise VectorError(f"a stored vector has one dimension, got shape {array.shape}")
    return array.astype(DTYPE, copy=False).tobytes()


def decode(raw: bytes, dim: int) -> FloatArray:
    """The vector stored in ``raw``; :class:`VectorError` when the bytes do not hold ``dim`` numbers."""
    if dim <= 0 or len(raw) != DTYPE.itemsize * dim:
        raise VectorError(f"{len(raw)} bytes do not hold a vector of {dim} float32 numbers")
    return np.frombuffer(raw, dtype=DTYPE).astype(np.float32)


def usable(raw: bytes | None, embedder: str | None, dim: int | None, by: Embedder) -> FloatArray | None:
    """The stored vector when ``by`` made it (same name, same dimension) and the bytes are whole; else None."""
    if raw is None or embedder != by.name or dim != by.dim:
        return None
    try:
        return decode(raw, dim)
    except VectorError:
        return None


class VectorColumns:
    """Mixin for a table whose every row has a vector."""

    embedder: Mapped[str] = mapped_column(String(EMBEDDER_CHARS))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class OptionalVectorColumns:
    """Mixin for a table whose rows get a vector later (computed on first use); all three are null until then."""

    embedder: Mapped[str | None] = mapped_column(String(EMBEDDER_CHARS))
    dim: Mapped[int | None] = mapped_column(Integer)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)


def read(row: VectorColumns | OptionalVectorColumns, by: Embedder) -> FloatArray | None:
    """The row's vector when ``by`` made it; None when it has none or another embedder's."""
    return usable(row.vector, row.embedder, row.dim, by)


def write(row: VectorColumns | OptionalVectorColumns, vector: npt.ArrayLike, embedder: str) -> None:
    """Store ``vector``, made by the embedder named ``embedder``, on the row."""
    raw = encode(vector)
    row.embedder, row.dim, row.vector = embedder, len(raw) // DTYPE.itemsize, raw


def columns(vector: npt.ArrayLike, embedder: str) -> dict[str, object]:
    """The three column values of ``vector`` made by ``embedder``, for inserts and bulk updates."""
    raw = encode(vector)
    return {"embedder": embedder, "dim": len(raw) // DTYPE.itemsize, "vector": raw}
