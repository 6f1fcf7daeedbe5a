"""Score fusion: per-query z-scored features, a learned weighted sum, and a calibrated confidence.

Features of a (query, article) pair, raw values:

* ``cent``  - cosine to the mean of the article's title and question-variant vectors;
* ``qmax``  - best cosine to one of the title/question variants;
* ``wcent`` - cosine to that mean after whitening by the variants' within-article covariance (a shrunk LDA:
  directions along which an article's own variants disagree count less) - how the index learns from the
  variants without a per-article classifier, in closed form and incrementally;
* ``body``  - best cosine to an answer chunk;
* ``bm25``  - BM25 over lemmatised title, variants and answer.

With a multi-part embedder (``use+e5``) the dense features are computed per part (``cent``, ``cent_1``, ...),
each whitened on its own: measured on BANKING77 this beats one feature set on the concatenated vectors by 1-5
points.

Ranking uses ``score = sum_i w_i * z_i`` with ``z_i`` the feature z-scored over the query's candidate
articles (a missing feature, e.g. ``body`` for an article without an answer, counts as average). Weights are
fitted on tuning queries by maximising the likelihood of the right article under a softmax over candidates
(conditional logit, Newton's method), shrunk towards the defaults.

``confidence`` is a logistic model over the top hit's raw similarities, its fused score, its margin over
the next article and the off-topic terms of the question that the article does not mention: the probability
that the hit answers the question. It is fitted by
:func:`kb.search.calibration.calibrate`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "CONFIDENCE_FEATURES",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_WEIGHTS",
    "FEATURES",
    "base_name",
    "combined",
    "confidence",
    "confidence_features",
    "feature_names",
    "fit_weights",
    "fuse",
    "zscore",
]

FloatArray = npt.NDArray[np.float64]

DENSE_FEATURES: tuple[str, ...] = ("cent", "qmax", "wcent", "body")
FEATURES: tuple[str, ...] = (*DENSE_FEATURES, "bm25")


def feature_names(blocks: int) -> tuple[str, ...]:
    """Feature names for an embedder of ``blocks`` parts (``use+e5`` has 2): the dense features of part ``b``
    get the suffix ``_b`` from the second part on, then ``bm25``."""
    names = [f if b == 0 else f"{f}_{b}" for b in range(blocks) for f in DENSE_FEATURES]
    return (*names, "bm25")


def base_name(feature: str) -> str:
    """``wcent_1`` → ``wcent``."""
    return feature.split("_", 1)[0]


# Rounded from the weights fitted on the BANKING77 (ru, en) and demo tuning splits with the default embedder
# (bench/kb_retrieval.py); the prior that calibration shrinks towards, and the weights until it has run.
DEFAULT_WEIGHTS: dict[str, float] = {"cent": 0.4, "qmax": 0.25, "wcent": 1.4, "body": 0.5, "bm25": 0.6}

CONFIDENCE_FEATURES: tuple[str, ...] = ("score", "margin", "cent", "wcent", "qmax", "body", "bm25", "foreign")
# The model calibrated on the demo knowledge base with the default embedder (``use``); other embedders need
# their own calibration (their cosines live on other scales).
DEFAULT_CONFIDENCE: dict[str, float] = {
    "bias": -11.3,
    "score": 0.25,
    "margin": 0.03,
    "cent": 3.1,
    "wcent": 5.4,
    "qmax": 2.5,
    "body": -0.9,
    "bm25": 2.6,
    "foreign": -3.0,
}

_MIN_STD = 1e-3


def zscore(values: npt.NDArray[np.floating], axis: int = -1) -> FloatArray:
    """Z-score along ``axis`` ignoring NaN (missing features); NaN becomes 0, a constant row all 0."""
    x = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(x)
    n = np.maximum(finite.sum(axis=axis, keepdims=True), 1)
    filled = np.where(finite, x, 0.0)
    mean = filled.sum(axis=axis, keepdims=True) / n
    var = (np.where(finite, x - mean, 0.0) ** 2).sum(axis=axis, keepdims=True) / n
    std = np.sqrt(var)
    z = np.where(finite & (std > _MIN_STD), (x - mean) / np.maximum(std, _MIN_STD), 0.0)
    return np.asarray(z, dtype=np.float64)


def weight_vector(weights: Mapping[str, float], features: Sequence[str] = FEATURES) -> FloatArray:
    """Weights in ``features`` order; a feature without a weight takes its base feature's (``cent_1`` → ``cent``),
    else the default."""
    out = []
    for f in features:
        b = base_name(f)
        out.append(float(weights[f] if f in weights else weights.get(b, DEFAULT_WEIGHTS.get(b, 0.0))))
    return np.array(out, dtype=np.float64)


def fuse(
    raw: npt.NDArray[np.floating], weights: Mapping[str, float], features: Sequence[str] = FEATURES
) -> tuple[FloatArray, FloatArray]:
    """Fused scores for raw features ``(..., n_candidates, n_features)`` → (scores, z-scored features)."""
    z = zscore(raw, axis=-2)
    return z @ weight_vector(weights, features), z


def fit_weights(
    z: Sequence[FloatArray],
    targets: Sequence[int],
    prior: Mapping[str, float] = DEFAULT_WEIGHTS,
    features: Sequence[str] = FEATURES,
    l2: float = 0.05,
    iterations: int = 50,
) -> dict[str, float]:
    """Weights maximising the softmax likelihood of ``targets`` (candidate index per query; -1 = skip).

    ``z``: per query, the z-scored features ``(n_candidates, len(features))``. The penalty ``l2 * |w - prior|^2``
    (per query) keeps the weights near the prior when there is little data. Newton's method with a backtracking
    line search (the loss is convex, but a full Newton step can overshoot).
    """
    rows = [(np.asarray(zq, dtype=np.float64), int(t)) for zq, t in zip(z, targets, strict=True) if t >= 0]
    w0 = weight_vector(prior, features)
    if not rows:
        return {f: round(float(v), 4) for f, v in zip(features, w0, strict=True)}
    k = len(features)
    n = len(rows)
    # Pad to one array (queries may have different candidate counts); padded rows get -inf scores.
    m = max(len(zq) for zq, _ in rows)
    zz = np.zeros((n, m, k))
    pad = np.ones((n, m), dtype=bool)
    target_z = np.empty((n, k))
    for i, (zq, right) in enumerate(rows):
        zz[i, : len(zq)] = zq
        pad[i, : len(zq)] = False
        target_z[i] = zq[right]

    def loss_at(w: FloatArray) -> tuple[float, FloatArray]:
        s = np.where(pad, -np.inf, zz @ w)
        top = s.max(axis=1, keepdims=True)
        p = np.exp(s - top)
        total = p.sum(axis=1, keepdims=True)
        lse = (np.log(total) + top)[:, 0]
        loss = float((lse - target_z @ w).sum() + l2 * n * (w - w0) @ (w - w0))
        return loss, p / total

    w = w0.copy()
    loss, p = loss_at(w)
    for _ in range(iterations):
        mean = np.einsum("nm,nmk->nk", p, zz)
        grad = (mean - target_z).sum(axis=0) + 2 * l2 * n * (w - w0)
        second = np.einsum("nm,nmk,nml->kl", p, zz, zz) - mean.T @ mean
        hess = second + 2 * l2 * n * np.eye(k)
        step = np.linalg.solve(hess + 1e-9 * np.eye(k), grad)
        t = 1.0
        while t > 1e-4:
            new_loss, new_p = loss_at(w - t * step)
            if new_loss <= loss:
                break
            t /= 2
        else:
            break
        w, loss, p = w - t * step, new_loss, new_p
        if float(np.abs(t * step).max()) < 1e-6:
            break
    return {f: round(float(v), 4) for f, v in zip(features, w, strict=True)}


def combined(raw: Mapping[str, float]) -> dict[str, float]:
    """Raw features of one hit with the parts of a multi-part embedder averaged (``cent`` = mean of ``cent``,
    ``cent_1``, ...: the cosine of the concatenated vectors); NaN when no part has the feature."""
    out: dict[str, float] = {}
    for name in DENSE_FEATURES:
        vals = [v for f, v in raw.items() if base_name(f) == name and math.isfinite(v)]
        out[name] = sum(vals) / len(vals) if vals else math.nan
    out["bm25"] = raw.get("bm25", 0.0)
    return out


def confidence_features(score: float, margin: float, raw: Mapping[str, float], foreign: int = 0) -> dict[str, float]:
    """Inputs of the confidence model for one hit (missing similarities count as 0, BM25 as log1p).

    ``foreign``: how many off-topic terms (other companies, services not offered) the question names that the
    hit's article does not mention.
    """
    both = combined(raw)
    out = {"score": score, "margin": margin}
    for name in ("cent", "wcent", "qmax", "body"):
        v = both[name]
        out[name] = v if math.isfinite(v) else 0.0
    out["bm25"] = math.log1p(max(both["bm25"], 0.0))
    out["foreign"] = float(min(foreign, 2))
    return out


def confidence(inputs: Mapping[str, float], model: Mapping[str, float]) -> float:
    """Logistic confidence in [0, 1]."""
    t = float(model.get("bias", 0.0)) + sum(float(model.get(k, 0.0)) * v for k, v in inputs.items())
    return 1.0 / (1.0 + math.exp(-max(min(t, 50.0), -50.0)))
