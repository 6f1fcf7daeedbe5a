# ruff: noqa
# Exploratory script (run from bench/research: python scratch/faq_a_minilm.py ...); kept for reproducibility of research_notes.md.
import sys, itertools
import numpy as np

sys.path.insert(0, ".")
from faq_a import *
from common import minilm
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC
from sklearn.linear_model import RidgeClassifier

en = Data("en")
is_var, lab, qrows = split(en.labels, en.idx)
var_keys = [(en.labels[i], en.idx[i]) for i in np.flatnonzero(is_var)]
q_keys_all = [(en.labels[i], en.idx[i]) for i in qrows]
perm = np.random.default_rng(1).permutation(len(q_keys_all))
tune_keys = [q_keys_all[i] for i in perm[:N_TUNE]]
val_keys = [q_keys_all[i] for i in perm[N_TUNE : N_TUNE + N_VAL]]


def rows(d, keys):
    return np.array([d.pos[k] for k in keys])


var_lab = np.array([k[0] for k in var_keys])
y0 = np.concatenate([var_lab, np.arange(77)])
qd = ad = en
mini_all = minilm(en.texts)
vr = rows(ad, var_keys)
tit = titles(ad.names)
vtexts = [ad.texts[i] for i in vr]
S = {}
for split_name, keys in (("tune", tune_keys), ("val", val_keys)):
    qr = rows(qd, keys)
    y = np.array([k[0] for k in keys])
    qtexts = [qd.texts[i] for i in qr]
    sc = {}
    X = {}
    Q = {}
    for m in ("use", "e5"):
        Q[m] = qd.get(m)[qr]
        X[m] = np.vstack([ad.get(m)[vr], embed(m, tit, verbose=False)])
    Q["mini"] = mini_all[qr]
    X["mini"] = np.vstack([mini_all[vr], minilm(tit)])
    for m in Q:
        sc[m + ":lr"] = lr_scores(Q[m], X[m], y0, 10)
    sc["mini:cent"] = centroid_scores(Q["mini"], X["mini"], y0)
    sc["e5:cent"] = centroid_scores(Q["e5"], X["e5"], y0)
    Qc = np.hstack([Q["use"], Q["e5"]])
    Xc = np.hstack([X["use"], X["e5"]])
    sc["cat:lr"] = lr_scores(Qc, Xc, y0, 10)
    Qc3 = np.hstack([Q["use"], Q["e5"], Q["mini"]])
    Xc3 = np.hstack([X["use"], X["e5"], X["mini"]])
    sc["cat3:lr"] = lr_scores(Qc3, Xc3, y0, 10)
    sc["cat3:svm"] = LinearSVC(C=1).fit(Xc3, y0).decision_function(Qc3)
    sc["cat3:ridge"] = RidgeClassifier(alpha=0.1).fit(Xc3, y0).decision_function(Qc3)
    v = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True).fit(vtexts + tit)
    sc["char:lr"] = (
        LogisticRegression(C=10, max_iter=3000)
        .fit(v.transform(vtexts + tit), y0)
        .decision_function(v.transform(qtexts))
    )
    tok = make_tokenizer("en", "stem")
    docs = [" ".join(vtexts[j] for j in np.flatnonzero(var_lab == c)) + " " + tit[c] for c in range(77)]
    sc["bm25"] = bm25_scores(docs, qtexts, tok)
    S[split_name] = (sc, y)
sc, y = S["tune"]
sc_v, yv = S["val"]
for k in sc:
    print(f"{k:10s} tune {r1(sc[k], y):.3f} val {r1(sc_v[k], yv):.3f}")


def fuse(comps, grid=(0, 0.5, 1, 2)):
    best = None
    for w in itertools.product(grid, repeat=len(comps)):
        if sum(w) == 0:
            continue
        a = r1(sum(wi * zs(sc[c]) for wi, c in zip(w, comps)), y)
        if best is None or a > best[0]:
            best = (a, w)
    fv = sum(wi * zs(sc_v[c]) for wi, c in zip(best[1], comps))
    print("zfusion", dict(zip(comps, best[1])), "tune", round(best[0], 3), "val", round(r1(fv, yv), 3))


fuse(["cat:lr", "e5:lr", "bm25", "e5:cent"])
fuse(["cat3:lr", "mini:lr", "e5:lr", "bm25", "char:lr"])
fuse(["cat3:lr", "mini:cent", "e5:cent", "bm25", "char:lr"])
