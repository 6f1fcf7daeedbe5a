"""Calibration of the search on labelled questions: fusion weights, confidence model, band thresholds.

Rule (applied by :func:`calibrate` to in-scope questions with their expected article and off-topic questions):

1. Fusion weights: fitted on the in-scope questions (softmax likelihood of the expected article, shrunk towards
   the current weights; needs at least ``min_fit`` questions, else the current weights stay).
2. Confidence: a logistic model of "the top hit is the expected article (or its translation)" over the top
   hit's raw similarities, fused score and margin (:mod:`kb.search.fusion`), fitted on all questions;
   off-topic questions count as wrong. Thresholds are chosen on out-of-fold confidences (5-fold), so they are
   not fitted to the very predictions they cut.
3. ``answer``: the lowest cut above which the top hit is right with precision ≥ ``answer_precision`` (0.97),
   over at least ``min_support`` questions (an off-topic question answered counts as wrong): when the bot
   answers, it is rarely wrong.
4. ``suggest`` (the unknown boundary): the highest cut below ``answer`` that sends at most ``max_unknown``
   (2%) of the in-scope questions to unknown; off-topic questions mostly score below it. Between the two the
   bot offers up to three titles: the uncertain middle is a choice for the customer, not a guess.

"Precision ≥ target" means the lower end of its Wilson interval (one standard error) is: with ~100 questions a
point estimate that just meets the target is as likely as not to miss it on new questions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from kb.search.fusion import CONFIDENCE_FEATURES, confidence_features, fit_weights, weight_vector
from kb.search.index import DEFAULT_ANSWER, DEFAULT_SUGGEST, SearchIndex, Thresholds

__all__ = ["calibrate", "choose_thresholds"]

F64 = npt.NDArray[np.float64]


def wilson_lower(k: int, n: int, z: float) -> float:
    """Lower end of the Wilson score interval for a proportion ``k / n`` (0 when ``n`` is 0)."""
    if n == 0:
        return 0.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def choose_thresholds(
    conf: Sequence[float],
    correct: Sequence[bool],
    off_topic: Sequence[bool],
    *,
    answer_precision: float = 0.97,
    max_unknown: float = 0.02,
    min_support: int = 5,
    z: float = 1.0,
) -> tuple[float, float]:
    """(answer, suggest) from confidences of the top hit, whether it was right, whether the question was off-topic.

    ``answer``: the lowest cut above which the top hit is right with precision ≥ ``answer_precision`` (its
    Wilson lower bound, ``z`` standard errors, over at least ``min_support`` answers); off-topic questions count
    as wrong answers. ``suggest``: the highest cut (≤ ``answer``) that leaves at most ``max_unknown`` of the
    in-scope questions below it: everything under it is unknown, so it is as high as in-scope questions allow.
    Between the two the bot suggests titles.
    """
    c = np.asarray(conf, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    off = np.asarray(off_topic, dtype=bool)
    if len(c) == 0:
        return DEFAULT_ANSWER, DEFAULT_SUGGEST
    order = np.argsort(c, kind="stable")
    c, ok, off = c[order], ok[order], off[order]
    # Cut points between neighbouring confidences, plus one below all and one above all.
    cuts = np.concatenate([[c[0] - 1e-6], (c[1:] + c[:-1]) / 2, [c[-1] + 1e-6]])
    answer = float(min(cuts[-1], 1.0))
    for t in cuts:
        above = c >= t
        if above.sum() >= min_support and wilson_lower(int(ok[above].sum()), int(above.sum()), z) >= answer_precision:
            answer = float(t)
            break
    inside = ~off
    suggest = float(cuts[0])
    for t in cuts[::-1]:
        if t > answer:
            continue
        if not inside.any() or (c[inside] < t).mean() <= max_unknown:
            suggest = float(t)
            break
    return answer, min(suggest, answer)


def _oof_confidence(x: F64, y: npt.NDArray[np.bool_], c_reg: float) -> tuple[dict[str, float], F64]:
    """Fit the logistic confidence model; return it in raw-feature form and out-of-fold predictions."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    mean = x.mean(axis=0)
    std = np.maximum(x.std(axis=0), 1e-6)
    xs = (x - mean) / std

    def fit(rows: npt.NDArray[np.int64]) -> tuple[F64, float]:
        m = LogisticRegression(C=c_reg, max_iter=1000).fit(xs[rows], y[rows])
        return np.asarray(m.coef_[0], dtype=np.float64), float(m.intercept_[0])

    oof = np.empty(len(y), dtype=np.float64)
    minority = int(min(y.sum(), (~y).sum()))
    if minority >= 5:
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
        for train, test in folds.split(xs, y):
            coef, bias = fit(train.astype(np.int64))
            oof[test] = 1 / (1 + np.exp(-(xs[test] @ coef + bias)))
    coef, bias = fit(np.arange(len(y), dtype=np.int64))
    if minority < 5:
        oof = 1 / (1 + np.exp(-(xs @ coef + bias)))
    raw_coef = coef / std
    model = {"bias": round(float(bias - raw_coef @ mean), 6)}
    model.update({name: round(float(v), 6) for name, v in zip(CONFIDENCE_FEATURES, raw_coef, strict=True)})
    return model, oof


def calibrate(
    index: SearchIndex,
    in_scope: Sequence[tuple[str, str, int]],
    off_topic: Sequence[tuple[str, str]],
    *,
    answer_precision: float = 0.97,
    max_unknown: float = 0.02,
    fit_fusion: bool = True,
    min_fit: int = 20,
) -> Thresholds:
    """Thresholds (with fusion weights and confidence model) from labelled questions; see the module doc."""
    current = index.thresholds
    items: list[tuple[str, str, int | None]] = [(q, lang, aid) for q, lang, aid in in_scope]
    items += [(q, lang, None) for q, lang in off_topic]
    prepared = [(index.analyse(q), lang, aid) for q, lang, aid in items]
    rows = [(t, lang, aid) for t, lang, aid in prepared if t is not None]
    if not rows or len(index) == 0:
        return current
    docs = {d.article_id: d for d in index.documents()}

    def key(aid: int | None) -> str | None:
        doc = docs.get(aid) if aid is not None else None
        return (doc.key or f"#{doc.article_id}") if doc is not None else None

    vecs = index.embedder.embed_queries([t.text for t, _, _ in rows])
    scored = [index.score_analysed(v, t) for v, (t, _, _) in zip(vecs, rows, strict=True)]

    weights = dict(current.weights)
    if fit_fusion:
        zs, targets = [], []
        for sc, (_, _, aid) in zip(scored, rows, strict=True):
            if aid is None:
                continue
            slot = index.slot_of(aid)
            where = np.flatnonzero(sc.slots == slot) if slot is not None else np.array([], dtype=np.int64)
            zs.append(sc.z)
            targets.append(int(where[0]) if len(where) else -1)
        if sum(t >= 0 for t in targets) >= min_fit:
            weights = fit_weights(zs, targets, prior=current.weights, features=index.features)

    probe = Thresholds(current.answer, current.suggest, weights, current.confidence)
    feats: list[list[float]] = []
    correct: list[bool] = []
    off: list[bool] = []
    for sc, (_, lang, aid) in zip(scored, rows, strict=True):
        sc.scores = sc.z @ weight_vector(weights, index.features)
        hits = index.rank_with(sc, lang, 2, probe)
        top = hits[0]
        margin = top.score - hits[1].score if len(hits) > 1 else 1.0
        i = int(np.argmax(sc.scores))
        raw = dict(zip(index.features, sc.raw[i].tolist(), strict=True))
        inputs = confidence_features(top.score, margin, raw, index.foreign_terms(sc, int(sc.slots[i])))
        feats.append([inputs[name] for name in CONFIDENCE_FEATURES])
        correct.append(aid is not None and key(top.article_id) == key(aid))
        off.append(aid is None)
    y = np.asarray(correct, dtype=bool)
    if y.all() or not y.any():
        model, oof = dict(current.confidence), np.full(len(y), 1.0 if y.all() else 0.0)
    else:
        model, oof = _oof_confidence(np.asarray(feats, dtype=np.float64), y, c_reg=1.0)
    answer, suggest = choose_thresholds(
        oof.tolist(), correct, off, answer_precision=answer_precision, max_unknown=max_unknown
    )
    off_a = np.asarray(off)
    unknown = oof < suggest
    info = {
        "in_scope": int((~off_a).sum()),
        "off_topic": int(off_a.sum()),
        "top1": round(float(y[~off_a].mean()) if (~off_a).any() else 0.0, 4),
        "answer_precision": round(float(y[oof >= answer].mean()) if (oof >= answer).any() else 1.0, 4),
        "answer_share": round(float((oof >= answer).mean()), 4),
        "unknown_precision": round(float(off_a[unknown].mean()) if unknown.any() else 1.0, 4),
        "unknown_recall": round(float(unknown[off_a].mean()) if off_a.any() else 1.0, 4),
        "in_scope_unknown": round(float(unknown[~off_a].mean()) if (~off_a).any() else 0.0, 4),
    }
    return Thresholds(round(answer, 4), round(suggest, 4), weights, model, info)
