"""The stored-vector codec: float32 little-endian bytes, the dimension and the embedder beside them."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nlu.vectors import VectorError, columns, decode, encode, usable

FINITE = st.floats(width=32, allow_nan=False, allow_infinity=False)


class Named:
    """Just what the codec asks of an embedder: a name and a dimension."""

    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim

    def embed_queries(self, texts: object) -> np.ndarray:  # type: ignore[type-arg]
        raise AssertionError("the codec never embeds")

    embed_passages = embed_queries


@given(arrays(np.float32, st.integers(1, 600), elements=FINITE))
def test_a_vector_comes_back_exactly(vector: np.ndarray) -> None:  # type: ignore[type-arg]
    back = decode(encode(vector), len(vector))
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, vector)


def test_the_bytes_are_little_endian_float32_whatever_the_input() -> None:
    expected = struct.pack("<3f", 1.0, -2.5, 0.125)
    assert encode([1.0, -2.5, 0.125]) == expected
    assert encode(np.array([1.0, -2.5, 0.125], dtype=">f8")) == expected, "a big-endian float64 input"
    assert decode(expected, 3).tolist() == [1.0, -2.5, 0.125]


def test_decoded_vectors_are_writable_copies() -> None:
    raw = encode([1.0, 2.0])
    vector = decode(raw, 2)
    vector += 1  # profiles are summed in place
    assert decode(raw, 2).tolist() == [1.0, 2.0]


@pytest.mark.parametrize(("raw", "dim"), [(b"\x00" * 7, 2), (b"\x00" * 12, 2), (b"", 0), (b"\x00" * 4, -1)])
def test_bytes_that_do_not_hold_the_vector_are_refused(raw: bytes, dim: int) -> None:
    with pytest.raises(VectorError):
        decode(raw, dim)


def test_only_a_matrix_row_is_a_vector() -> None:
    with pytest.raises(VectorError):
        encode(np.zeros((2, 3), dtype=np.float32))


def test_a_stored_vector_is_used_only_by_the_embedder_that_made_it() -> None:
    use = Named("use-multilingual", 3)
    stored = columns([0.6, 0.8, 0.0], use.name)
    assert stored == {"embedder": "use-multilingual", "dim": 3, "vector": encode([0.6, 0.8, 0.0])}
    raw = stored["vector"]
    assert isinstance(raw, bytes)
    vector = usable(raw, "use-multilingual", 3, use)
    assert vector is not None
    assert vector.tolist() == pytest.approx([0.6, 0.8, 0.0])
    assert usable(raw, "e5-small-q4", 3, use) is None, "another model's numbers mean nothing here"
    assert usable(raw, "use-multilingual", 3, Named("use-multilingual", 4)) is None
    assert usable(raw[:-1], "use-multilingual", 3, use) is None, "cut bytes"
    assert usable(None, None, None, use) is None, "not computed yet"
