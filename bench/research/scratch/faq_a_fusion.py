# ruff: noqa
# Exploratory script (run from bench/research: python scratch/faq_a_fusion.py ...); kept for reproducibility of research_notes.md.
import sys, itertools
import numpy as np

sys.path.insert(0, ".")
from faq_a import *

langs = sys.argv[1].split(",")
en, ru = Data("en"), Data("ru")
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
sets = {"en": (en, en), "ru": (ru, ru), "ru->en": (ru, en)}
for sname in langs:
    qd, ad = sets[sname]
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
            sc[m + ":cent"] = centroid_scores(Q[m], X[m], y0)
            sc[m + ":lr"] = lr_scores(Q[m], X[m], y0, 10)
        Qc = np.hstack([Q["use"], Q["e5"]])
        Xc = np.hstack([X["use"], X["e5"]])
        sc["cat:lr"] = lr_scores(Qc, Xc, y0, 10)
        sc["cat:lr30"] = lr_scores(Qc, Xc, y0, 30)
        sc["cat:cent"] = centroid_scores(Qc / np.sqrt(2), Xc / np.sqrt(2), y0)
        if sname != "ru->en":
            tok = make_tokenizer(sname, "stem")
            docs = [" ".join(vtexts[j] for j in np.flatnonzero(var_lab == c)) + " " + tit[c] for c in range(77)]
            sc["bm25"] = bm25_scores(docs, qtexts, tok)
        S[split_name] = (sc, y)
    sc, y = S["tune"]
    for k in sc:
        print(f"{sname} {k:10s} tune {r1(sc[k], y):.3f} val {r1(S['val'][0][k], S['val'][1]):.3f}")
    sc_v, yv = S["val"]
    print(
        sname,
        "rrf use:cent e5:cent bm25",
        r1(rrf(*[S["val"][0][k] for k in sc_v if k in ("use:cent", "e5:cent", "bm25")]), yv),
    )
    # weighted z fusion, grid on tune
    comps = [k for k in ("use:lr", "e5:lr", "cat:lr", "bm25", "use:cent", "e5:cent") if k in sc]
    best = None
    grid = [0, 0.5, 1, 2]
    for w in itertools.product(grid, repeat=len(comps)):
        if sum(w) == 0:
            continue
        f = sum(wi * zs(sc[c]) for wi, c in zip(w, comps))
        a = r1(f, y)
        if best is None or a > best[0]:
            best = (a, w)
    w = best[1]
    fv = sum(wi * zs(sc_v[c]) for wi, c in zip(w, comps))
    print(sname, "zfusion", dict(zip(comps, w)), "tune", round(best[0], 3), "val", round(r1(fv, yv), 3))
