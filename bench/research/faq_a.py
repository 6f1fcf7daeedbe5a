"""Part A: FAQ retrieval on BANKING77 (77 intents = 77 articles, 5 seeded variants each).

Protocol
- For each label (0..76 in categories.json order) rng = default_rng(0) picks 5 within-label
  indices (rng.choice(n_label, 5, replace=False), labels in order, one shared rng). The same
  indices are used in English and Russian (the Russian file keeps the within-label order), so a
  Russian query is never the translation of a variant.
- Queries = all other train rows. default_rng(1) permutes them: the first 1,500 = "tune"
  (fusion weights, hyper-parameters), the next 1,500 = "val" (headline), and "rest" = all
  non-tune queries (~8,500, includes val).
- Article = 5 variants + title (intent name with "_" -> " ", English in every language).
- Metric: recall@1 (top article == query label).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable

import numpy as np
from common import banking, embed
from sklearn.linear_model import LogisticRegression

N_VAR = 5
N_TUNE = 1500
N_VAL = 1500


def split(labels: list[int], idx: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lab = np.asarray(labels)
    rng = np.random.default_rng(0)
    var_keys = set()
    for c in range(77):
        n = int((lab == c).sum())
        for j in rng.choice(n, N_VAR, replace=False):
            var_keys.add((c, int(j)))
    is_var = np.array([(lab[i], idx[i]) in var_keys for i in range(len(lab))])
    return is_var, lab, np.flatnonzero(~is_var)


def key_order(labels: list[int], idx: list[int], rows: np.ndarray) -> list[tuple[int, int]]:
    return [(labels[i], idx[i]) for i in rows]


class Data:
    """One language's texts and embeddings, rows addressable by (label, within-label index)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.texts, self.labels, self.names, self.idx = banking(lang)
        self.pos = {(lab, j): i for i, (lab, j) in enumerate(zip(self.labels, self.idx, strict=True))}
        self.emb: dict[str, np.ndarray] = {}

    def get(self, model: str) -> np.ndarray:
        if model not in self.emb:
            self.emb[model] = embed(model, self.texts)
        return self.emb[model]


def titles(names: list[str]) -> list[str]:
    return [n.replace("_", " ") for n in names]


# ---------------------------------------------------------------- lexical
_WORD = re.compile(r"\w+", re.UNICODE)


def make_tokenizer(lang: str, mode: str) -> Callable[[str], list[str]]:
    import bm25s.stopwords as sw

    stop = set(sw.STOPWORDS_EN if lang == "en" else sw.STOPWORDS_RUSSIAN)
    if mode == "plain":
        return lambda t: [w for w in _WORD.findall(t.lower()) if w not in stop]
    if mode == "stem":
        import Stemmer

        st = Stemmer.Stemmer("english" if lang == "en" else "russian")
        return lambda t: st.stemWords([w for w in _WORD.findall(t.lower()) if w not in stop])
    if mode == "lemma":
        import pymorphy3

        if lang == "en":
            import Stemmer

            st = Stemmer.Stemmer("english")
            return lambda t: st.stemWords([w for w in _WORD.findall(t.lower()) if w not in stop])
        morph = pymorphy3.MorphAnalyzer()
        cache: dict[str, str] = {}

        def lem(w: str) -> str:
            if w not in cache:
                cache[w] = morph.parse(w)[0].normal_form
            return cache[w]

        return lambda t: [lem(w) for w in _WORD.findall(t.lower()) if w not in stop]
    raise ValueError(mode)


def bm25_scores(
    docs: list[str], queries: list[str], tok: Callable[[str], list[str]], k1: float = 1.2, b: float = 0.75
) -> np.ndarray:
    import bm25s

    r = bm25s.BM25(k1=k1, b=b)
    r.index([tok(d) or ["__empty__"] for d in docs], show_progress=False)
    out = np.zeros((len(queries), len(docs)), dtype=np.float32)
    for i, q in enumerate(queries):
        ids = r.get_tokens_ids(tok(q))
        if ids:
            out[i] = r.get_scores_from_ids(ids)
    return out


# ---------------------------------------------------------------- helpers
def r1(scores: np.ndarray, y: np.ndarray) -> float:
    return float((scores.argmax(1) == y).mean())


def zs(s: np.ndarray) -> np.ndarray:
    mu = s.mean(1, keepdims=True)
    sd = s.std(1, keepdims=True) + 1e-9
    return (s - mu) / sd


def rrf(*ss: np.ndarray, k: float = 60.0) -> np.ndarray:
    out = np.zeros_like(ss[0])
    for s in ss:
        ranks = (-s).argsort(1).argsort(1)
        out += 1.0 / (k + ranks + 1)
    return out


def norm(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def art_var_matrix(var_emb: np.ndarray, var_lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return var_emb, var_lab


def centroid_scores(q: np.ndarray, var: np.ndarray, var_lab: np.ndarray) -> np.ndarray:
    cents = norm(np.stack([var[var_lab == c].mean(0) for c in range(77)]))
    return q @ cents.T


def knn_max_scores(q: np.ndarray, var: np.ndarray, var_lab: np.ndarray) -> np.ndarray:
    s = q @ var.T
    return np.stack([s[:, var_lab == c].max(1) for c in range(77)], axis=1)


def lr_scores(q: np.ndarray, var: np.ndarray, var_lab: np.ndarray, c: float = 10.0) -> np.ndarray:
    clf = LogisticRegression(C=c, max_iter=2000)
    clf.fit(var, var_lab)
    return clf.decision_function(q)


def main() -> None:
    t_start = time.perf_counter()
    en, ru = Data("en"), Data("ru")
    is_var, _lab, qrows = split(en.labels, en.idx)
    var_keys = [(en.labels[i], en.idx[i]) for i in np.flatnonzero(is_var)]
    q_keys_all = [(en.labels[i], en.idx[i]) for i in qrows]
    perm = np.random.default_rng(1).permutation(len(q_keys_all))
    tune_keys = [q_keys_all[i] for i in perm[:N_TUNE]]
    val_keys = [q_keys_all[i] for i in perm[N_TUNE : N_TUNE + N_VAL]]
    rest_keys = [q_keys_all[i] for i in perm[N_TUNE:]]
    print(
        f"variants {len(var_keys)}, queries {len(q_keys_all)}: tune {len(tune_keys)}, val {len(val_keys)}, "
        f"rest {len(rest_keys)}"
    )
    models = sys.argv[1:] or ["use", "e5"]

    def rows(d: Data, keys: list[tuple[int, int]]) -> np.ndarray:
        return np.array([d.pos[k] for k in keys])

    settings = {"en": (en, en), "ru": (ru, ru), "ru->en": (ru, en)}
    for sname, (qd, ad) in settings.items():
        print(f"\n=== {sname}")
        vr = rows(ad, var_keys)
        var_lab = np.array([k[0] for k in var_keys])
        tit = titles(ad.names)
        res: dict[str, dict[str, np.ndarray]] = {}
        for split_name, keys in (("tune", tune_keys), ("val", val_keys), ("rest", rest_keys)):
            qr = rows(qd, keys)
            y = np.array([k[0] for k in keys])
            sc: dict[str, np.ndarray] = {}
            for m in models:
                qe = qd.get(m)[qr]
                ve = ad.get(m)[vr]
                te = embed(m, tit)
                sc[f"{m}:cent"] = centroid_scores(qe, ve, var_lab)
                sc[f"{m}:knn"] = knn_max_scores(qe, ve, var_lab)
                sc[f"{m}:lr"] = lr_scores(qe, np.vstack([ve, te]), np.concatenate([var_lab, np.arange(77)]))
            res[split_name] = sc
            res[split_name]["_y"] = y
        for name in res["val"]:
            if name == "_y":
                continue
            print(
                f"{name:12s} tune {r1(res['tune'][name], res['tune']['_y']):.3f}  "
                f"val {r1(res['val'][name], res['val']['_y']):.3f}  rest {r1(res['rest'][name], res['rest']['_y']):.3f}"
            )
    print(f"total {time.perf_counter() - t_start:.0f}s")


if __name__ == "__main__":
    main()
