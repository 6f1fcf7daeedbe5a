# ruff: noqa
# Exploratory script (run from bench/research: python scratch/faq_a_selftrain.py ...); kept for reproducibility of research_notes.md.
import sys, itertools
import numpy as np

sys.path.insert(0, ".")
from faq_a import *
from common import minilm

en, ru = Data("en"), Data("ru")
is_var, lab, qrows = split(en.labels, en.idx)
var_keys = [(en.labels[i], en.idx[i]) for i in np.flatnonzero(is_var)]
q_keys_all = [(en.labels[i], en.idx[i]) for i in qrows]
perm = np.random.default_rng(1).permutation(len(q_keys_all))
tune_keys = [q_keys_all[i] for i in perm[:N_TUNE]]
val_keys = [q_keys_all[i] for i in perm[N_TUNE : N_TUNE + N_VAL]]
pool_big = [q_keys_all[i] for i in np.concatenate([perm[:N_TUNE], perm[N_TUNE + N_VAL :]])]


def rows(d, keys):
    return np.array([d.pos[k] for k in keys])


var_lab = np.array([k[0] for k in var_keys])
y0 = np.concatenate([var_lab, np.arange(77)])
sets = {"en": (en, en), "ru": (ru, ru), "ru->en": (ru, en)}


def feats(d, r, tit_d=None):
    return np.hstack([d.get("use")[r], d.get("e5")[r]])


for sname in sys.argv[1].split(","):
    qd, ad = sets[sname]
    vr = rows(ad, var_keys)
    tit = titles(ad.names)
    X0 = np.vstack([feats(ad, vr), np.hstack([embed("use", tit, verbose=False), embed("e5", tit, verbose=False)])])
    Qv = feats(qd, rows(qd, val_keys))
    yv = np.array([k[0] for k in val_keys])
    base = LogisticRegression(C=10, max_iter=2000).fit(X0, y0)
    print(sname, "base val", r1(base.decision_function(Qv), yv))
    for pname, pool in (("tune1500", tune_keys), ("big", pool_big)):
        P = feats(qd, rows(qd, pool))
        py_true = np.array([k[0] for k in pool])
        clf = base
        for it in range(3):
            pr = clf.predict_proba(P)
            conf = pr.max(1)
            pl = pr.argmax(1)
            for thr in [0.0] if it < 9 else []:
                keep = conf >= np.quantile(conf, 0.0)
            # keep top 50% most confident per class
            keep = np.zeros(len(P), bool)
            for c in range(77):
                idx = np.flatnonzero(pl == c)
                if len(idx):
                    keep[idx[np.argsort(-conf[idx])[: max(1, int(len(idx) * 0.6))]]] = True
            acc_pl = (pl[keep] == py_true[keep]).mean()
            clf = LogisticRegression(C=10, max_iter=2000).fit(
                np.vstack([X0, P[keep]]),
                np.concatenate([y0, pl[keep]]),
                sample_weight=np.concatenate([np.full(len(y0), 1.0), np.full(keep.sum(), 0.5)]),
            )
            print(
                f"  {sname} pool={pname} iter {it}: pseudo {keep.sum()} acc {acc_pl:.3f} -> val {r1(clf.decision_function(Qv), yv):.3f}"
            )
