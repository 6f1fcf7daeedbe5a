"""Tests for nlu.embedding: every backend with its real model, offline.

Each model is loaded once per module (module-scoped fixtures) to keep the suite fast.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from nlu.embedding import (
    MAX_CHARS,
    ConcatEmbedder,
    E5Embedder,
    Embedder,
    LockedEmbedder,
    SentenceTransformerEmbedder,
    UseEmbedder,
    load_embedder,
    prepare_texts,
)

THREADS = 1

RU_QUERY = "Как заблокировать потерянную карту?"
RU_PARAPHRASE = "Я потерял свою банковскую карту, как её заблокировать?"
RU_UNRELATED = "Какая погода будет завтра в Сочи?"
EN_QUERY = "How do I block a lost card?"
EN_PARAPHRASE = "I lost my bank card, how can I freeze it?"
EN_UNRELATED = "What will the weather be like tomorrow in Paris?"

ODD_INPUTS = ["", "   ", "\n\t", "🙂🔥💳", "ok", "слово " * 5000, "x" * 100_000, "a\x00b"]


@pytest.fixture(scope="module")
def use(embedder: LockedEmbedder) -> Embedder:
    """The session's USE model itself, without its lock wrapper: USE is loaded once per test session."""
    return embedder.inner


@pytest.fixture(scope="module")
def e5() -> Embedder:
    return load_embedder("e5", THREADS)


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return load_embedder("minilm", THREADS)


@pytest.fixture(scope="module")
def use_e5(use: Embedder, e5: Embedder) -> Embedder:
    return ConcatEmbedder([use, e5])


def _check(emb: Embedder, texts: Sequence[str]) -> None:
    for out in (emb.embed_queries(texts), emb.embed_passages(texts)):
        assert out.dtype == np.float32
        assert out.shape == (len(texts), emb.dim)
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)


def _closer(emb: Embedder, q: str, para: str, unrelated: str) -> tuple[float, float]:
    qv = emb.embed_queries([q])[0]
    pv = emb.embed_queries([para, unrelated])
    sims = pv @ qv
    return float(sims[0]), float(sims[1])


@pytest.mark.parametrize("fixture", ["use", "e5", "use_e5", "minilm"])
def test_normalised_vectors_of_declared_dim(fixture: str, request: pytest.FixtureRequest) -> None:
    emb: Embedder = request.getfixturevalue(fixture)
    assert isinstance(emb, Embedder)
    assert emb.name
    _check(emb, ["hello", "привет, как дела?", "card arrival"])


def test_declared_dims(use: Embedder, e5: Embedder, use_e5: Embedder, minilm: Embedder) -> None:
    assert (use.dim, e5.dim, use_e5.dim, minilm.dim) == (512, 384, 896, 384)
    assert use_e5.name == "use-multilingual+e5-small-q4"


@pytest.mark.parametrize("fixture", ["use", "e5", "use_e5"])
def test_russian_paraphrase_closer_than_unrelated(fixture: str, request: pytest.FixtureRequest) -> None:
    emb: Embedder = request.getfixturevalue(fixture)
    para, unrelated = _closer(emb, RU_QUERY, RU_PARAPHRASE, RU_UNRELATED)
    assert para > unrelated


@pytest.mark.parametrize("fixture", ["use", "e5", "use_e5", "minilm"])
def test_english_paraphrase_closer_than_unrelated(fixture: str, request: pytest.FixtureRequest) -> None:
    emb: Embedder = request.getfixturevalue(fixture)
    para, unrelated = _closer(emb, EN_QUERY, EN_PARAPHRASE, EN_UNRELATED)
    assert para > unrelated


@pytest.mark.parametrize("fixture", ["use", "e5"])
def test_cross_lingual_ru_query_en_passage(fixture: str, request: pytest.FixtureRequest) -> None:
    emb: Embedder = request.getfixturevalue(fixture)
    para, unrelated = _closer(emb, RU_QUERY, EN_PARAPHRASE, EN_UNRELATED)
    assert para > unrelated


@pytest.mark.parametrize("fixture", ["use", "e5", "use_e5", "minilm"])
def test_odd_inputs_do_not_crash(fixture: str, request: pytest.FixtureRequest) -> None:
    emb: Embedder = request.getfixturevalue(fixture)
    _check(emb, ODD_INPUTS)
    assert emb.embed_queries([]).shape == (0, emb.dim)


def test_batching_matches_single(use: Embedder) -> None:
    texts = [f"question number {i}" for i in range(150)]
    batched = use.embed_queries(texts)
    single = np.stack([use.embed_queries([t])[0] for t in texts[:3]])
    np.testing.assert_allclose(batched[:3], single, atol=1e-5)


def test_minilm_loads_offline_through_sentence_transformers(minilm: Embedder) -> None:
    assert isinstance(minilm, SentenceTransformerEmbedder)
    assert minilm.name == "minilm-l6-v2"


def test_backend_classes(use: Embedder, e5: Embedder) -> None:
    assert isinstance(use, UseEmbedder)
    assert isinstance(e5, E5Embedder)
    assert use.embed_queries(["a"]).tobytes() == use.embed_passages(["a"]).tobytes()


def test_prepare_texts_truncates_and_fills_empty() -> None:
    out = prepare_texts(["", "  hi  ", "y" * (MAX_CHARS + 10)])
    assert out == [" ", "hi", "y" * MAX_CHARS]
    with pytest.raises(TypeError):
        prepare_texts("a single string")


def test_concat_weights(use: Embedder, e5: Embedder) -> None:
    heavy = ConcatEmbedder([use, e5], weights=[1.0, 3.0])
    v = heavy.embed_queries(["hello"])
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    # the e5 block carries 9/10 of the squared norm
    assert float(np.sum(v[0, use.dim :] ** 2)) == pytest.approx(0.9, abs=1e-4)
    with pytest.raises(ValueError, match="weights"):
        ConcatEmbedder([use], weights=[1.0, 2.0])


def test_bad_specs() -> None:
    with pytest.raises(ValueError, match="unknown"):
        load_embedder("word2vec", THREADS)
    with pytest.raises(ValueError, match="st:"):
        load_embedder("st:", THREADS)
    with pytest.raises(ValueError, match="threads"):
        load_embedder("use", 0)
