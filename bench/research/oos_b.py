"""Part B: which retrieval score separates in-scope from off-topic queries (AUROC).

Proxy: CLINC150 English. "Articles" = the 150 intents, each with 5 seeded (seed 0) train
utterances as question variants + the intent name as title (the FAQ setting of Part A).
In-scope = val (3,000), off-topic = oos_val (100). Signals (higher = more in-scope):
max cosine to a centroid, max cosine to any variant, per-article LR max prob / margin /
energy / max logit, top1-top2 cosine margin, BM25 max.
"""

from __future__ import annotations

import sys

import numpy as np
from common import clinc_en, embed
from faq_a import bm25_scores, make_tokenizer, norm
from scipy.special import logsumexp, softmax
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


def main() -> None:
    models = (sys.argv[1] if len(sys.argv) > 1 else "use").split("+")
    d = clinc_en()
    intents = sorted(set(d["train"][1]))
    y_tr = np.array([intents.index(x) for x in d["train"][1]])
    rng = np.random.default_rng(0)
    var_idx = np.concatenate([rng.choice(np.flatnonzero(y_tr == c), 5, replace=False) for c in range(150)])
    var_lab = y_tr[var_idx]
    titles = [n.replace("_", " ") for n in intents]

    def E(texts: list[str]) -> np.ndarray:
        return np.hstack([embed(m, texts, verbose=False) for m in models]) / np.sqrt(len(models))

    V = np.vstack([E(d["train"][0])[var_idx], E(titles)])
    lab = np.r_[var_lab, np.arange(150)]
    Qin, Qout = E(d["val"][0]), E(d["oos_val"][0])
    cents = norm(np.stack([V[lab == c].mean(0) for c in range(150)]))
    clf = LogisticRegression(C=10, max_iter=2000).fit(V, lab)
    vtexts = [d["train"][0][i] for i in var_idx]
    docs = [" ".join(vtexts[j] for j in np.flatnonzero(var_lab == c)) + " " + titles[c] for c in range(150)]
    tok = make_tokenizer("en", "stem")

    def sig(Q: np.ndarray, texts: list[str]) -> dict[str, np.ndarray]:
        sc = Q @ cents.T
        sv = Q @ V.T
        top2 = np.sort(sc, 1)[:, -2:]
        lg = clf.decision_function(Q)
        p = softmax(lg, 1)
        p2 = np.sort(p, 1)[:, -2:]
        bm = bm25_scores(docs, texts, tok)
        return {
            "max cosine (centroid)": sc.max(1),
            "max cosine (any variant)": sv.max(1),
            "cosine margin top1-top2": top2[:, 1] - top2[:, 0],
            "LR max prob": p.max(1),
            "LR margin top1-top2": p2[:, 1] - p2[:, 0],
            "LR energy (logsumexp)": logsumexp(lg, 1),
            "LR max logit": lg.max(1),
            "BM25 max": bm.max(1),
            "max cos (centroid) + 0.5*LR maxprob": sc.max(1) + 0.5 * p.max(1),
        }

    si, so = sig(Qin, d["val"][0]), sig(Qout, d["oos_val"][0])
    yb = np.r_[np.zeros(len(Qin)), np.ones(len(Qout))]
    acc = (clf.predict(Qin) == np.array([intents.index(x) for x in d["val"][1]])).mean()
    print(f"models {models}: FAQ-style 5 variants + title per intent; in-scope top-1 (LR) {acc:.3f}")
    for k in si:
        auroc = roc_auc_score(yb, -np.r_[si[k], so[k]])
        print(f"  {k:40s} AUROC {auroc:.3f}")


if __name__ == "__main__":
    main()
