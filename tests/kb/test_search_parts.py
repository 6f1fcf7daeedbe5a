"""The search index's parts without a model: lemmatisation, BM25 with incremental updates, the dense store."""

from __future__ import annotations

import numpy as np
import pytest

from kb.search.dense import DenseStore
from kb.search.fusion import fit_weights, zscore
from kb.search.lexical import LexicalIndex
from kb.search.text import has_words, markdown_to_text, split_chunks, tokenize


def test_tokens_are_lemmas_of_each_script() -> None:
    assert tokenize("Роутеры не включаются") == ["роутер", "включаться"]
    assert tokenize("Routers keep rebooting") == ["router", "keep", "reboot"]
    assert tokenize("Не работает WiFi-роутер Ёлка") == ["работать", "wifi", "роутер", "елка"]
    assert tokenize("🙂🔥 ?!") == []
    assert not has_words("🙂 ... !!!")
    assert has_words("5")


def test_markdown_is_reduced_to_text_and_chunked() -> None:
    md = (
        "**Шаг 1.** Откройте [личный кабинет](https://lk.example) <script>alert(1)</script>\n\nШаг 2. "
        + "Текст. " * 100
    )
    text = markdown_to_text(md)
    assert "https" not in text
    assert "<script>" not in text
    assert "**" not in text
    assert "личный кабинет" in text
    chunks = split_chunks(text, max_chars=200)
    assert len(chunks) > 2
    assert all(len(c) <= 400 for c in chunks)


@pytest.mark.parametrize("full_rebuild_limit", [0, 1000])
def test_bm25_updates_without_rebuilding_everything(full_rebuild_limit: int) -> None:
    lex = LexicalIndex(full_rebuild_limit=full_rebuild_limit, max_delta_share=0.5, background=10)
    docs = {i: tokenize(f"статья номер {i} про тариф и оплату") for i in range(40)}
    lex.set_many(docs.items())
    lex.set(40, tokenize("роутер мигает красным"))
    assert lex.scores(tokenize("роутер красный"), 41).argmax() == 40
    rebuilds = lex.rebuilds
    lex.set(7, tokenize("статический ip адрес"))  # an edit
    s = lex.scores(tokenize("статический ip"), 41)
    assert s.argmax() == 7
    assert s[8] == 0
    if full_rebuild_limit == 0:
        assert lex.rebuilds == rebuilds
        assert lex.delta_builds >= 1
    lex.remove(40)
    assert lex.scores(tokenize("роутер красный"), 41).max() == 0
    lex.compact()
    assert lex.scores(tokenize("статический ip"), 41).argmax() == 7
    assert len(lex) == 40


def _unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)
    return out


def test_dense_store_best_matches_a_brute_force_max_after_edits() -> None:
    rng = np.random.default_rng(0)
    store = DenseStore(16)
    vecs = {}
    for slot in range(300):
        v = _unit(rng.standard_normal((int(rng.integers(1, 6)), 16)))
        vecs[slot] = v
        store.set(slot, v, v[:1])
    for slot in range(0, 300, 3):  # removals and re-adds force arena compaction
        store.remove(slot)
        del vecs[slot]
    for slot in range(0, 60, 3):
        vecs[slot] = _unit(rng.standard_normal((4, 16)))
        store.set(slot, vecs[slot], np.zeros((0, 16), np.float32))
    q = _unit(rng.standard_normal(16))
    slots = np.array(sorted(vecs), dtype=np.int64)
    want = np.array([(vecs[s] @ q).max() for s in slots])
    for everything in (True, False):
        got = store.best(q, slots, "variants", everything)
        np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.isfinite(store.best(q, np.array([1], dtype=np.int64), "variants"))[0]
    assert np.isnan(store.best(q, np.array([0], dtype=np.int64), "chunks"))[0]


def test_whitening_is_relearned_only_after_enough_change() -> None:
    rng = np.random.default_rng(1)
    store = DenseStore(8, relearn_share=0.1)
    for slot in range(50):
        store.set(slot, _unit(rng.standard_normal((4, 8))), np.zeros((0, 8), np.float32))
    assert store.maybe_relearn()
    learned = store.relearns
    store.set(3, _unit(rng.standard_normal((4, 8))), np.zeros((0, 8), np.float32))
    assert not store.maybe_relearn()  # one article: the old whitener still serves
    for slot in range(10):
        store.set(slot, _unit(rng.standard_normal((4, 8))), np.zeros((0, 8), np.float32))
    assert store.maybe_relearn()
    assert store.relearns == learned + 1


def test_zscore_ignores_missing_features() -> None:
    z = zscore(np.array([[1.0, np.nan], [3.0, np.nan], [5.0, np.nan]]), axis=0)
    np.testing.assert_allclose(z[:, 0], [-1.2247, 0, 1.2247], atol=1e-4)
    assert (z[:, 1] == 0).all()


def test_fusion_weights_learn_which_feature_is_informative() -> None:
    rng = np.random.default_rng(2)
    zs, targets = [], []
    for _ in range(200):
        z = rng.standard_normal((20, 2))
        t = int(rng.integers(20))
        z[t, 0] += 3.0  # feature 0 points at the right article, feature 1 is noise
        zs.append(z)
        targets.append(t)
    w = fit_weights(zs, targets, prior={"a": 1.0, "b": 1.0}, features=("a", "b"))
    assert w["a"] > 2.0
    assert abs(w["b"]) < 0.5
