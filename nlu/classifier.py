"""The builtin engine's intent classifier: sentence embeddings (+ TF-IDF character n-grams) -> logistic regression.

Out-of-scope is decided two ways: an explicit out-of-scope class (trained on out-of-scope examples when the
data has them), and a threshold on an in-scope score, calibrated on held-out data to keep the out-of-scope
precision at or above a target while catching as much out-of-scope as possible. The score is
``p(best intent) - p(out_of_scope) + knn_weight * cos(nearest in-scope training example)``: the probability
says which intent, the nearest-example cosine says how familiar the message is at all.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from nlu.language import detransliterate, is_transliterated_russian

__all__ = [
    "Calibration",
    "ClassifierConfig",
    "IntentClassifier",
    "Prediction",
    "calibrate_threshold",
    "feature_text",
]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ClassifierConfig:
    tfidf: bool = True
    """Add TF-IDF character n-grams (typos, inflection, ticket-like tokens) to the embeddings."""
    embedding_weight: float = 2.0
    """Scale of the (unit-norm) embedding block against the (unit-norm) TF-IDF block."""
    ngram_range: tuple[int, int] = (2, 4)
    max_features: int = 50_000
    C: float = 10.0
    max_iter: int = 200
    tol: float = 1e-4
    knn_weight: float = 1.0
    """Weight of the nearest training example's cosine in the in-scope score (0: probabilities only)."""
    target_oos_precision: float = 0.9
    oos_prior: float | None = None
    """Share of out-of-scope messages expected in use; the precision target is met at this share (None: the
    held-out data's own share). Held-out sets often have far fewer out-of-scope rows than real traffic."""
    min_oos_to_calibrate: int = 40
    """With fewer out-of-scope rows held out, precision cannot be estimated: only the explicit class decides."""
    holdout: float = 0.2
    """Share of the examples held out to calibrate the threshold when no calibration set is given."""
    seed: int = 0

    def key(self) -> str:
        return repr(self)


@dataclass(frozen=True)
class Calibration:
    threshold: float
    in_scope_accuracy: float
    oos_recall: float
    oos_precision: float
    heldout: int


NO_THRESHOLD = -10.0
"""Below any score: nothing is rejected by the threshold (no out-of-scope data to calibrate on)."""


@dataclass(frozen=True)
class Prediction:
    intent: str
    confidence: float
    ranking: list[tuple[str, float]]


def feature_text(text: str) -> str:
    """What the classifier sees: Russian typed in Latin letters is rendered in Cyrillic first."""
    return detransliterate(text) if is_transliterated_russian(text) else text


@dataclass
class IntentClassifier:
    classes: list[str]
    oos_label: str
    config: ClassifierConfig
    model: Any
    vectorizer: Any | None
    threshold: float = NO_THRESHOLD
    calibration: Calibration | None = None
    bank: Any = None
    """Embeddings of the in-scope training examples, for the nearest-example cosine."""
    train_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ training

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        embeddings: FloatArray,
        *,
        oos_label: str,
        config: ClassifierConfig | None = None,
        calibration_set: tuple[Sequence[str], Sequence[str], FloatArray] | None = None,
        previous: IntentClassifier | None = None,
    ) -> IntentClassifier:
        """Fit on the examples; calibrate the threshold on ``calibration_set`` or on a held-out part.

        With no calibration set, a stratified ``config.holdout`` share is held out, the threshold is
        calibrated on it, and the model is then refitted on everything (warm-started, so cheaply).
        ``previous`` (a model of the same classes and features) warm-starts the solver: retraining after a
        small data change takes a few iterations.
        """
        cfg = config or ClassifierConfig()
        started = time.perf_counter()
        texts = [feature_text(t) for t in texts]
        y = np.asarray(labels)
        vectorizer = _fit_vectorizer(texts, cfg) if cfg.tfidf else None
        clf = cls(sorted(set(labels)), oos_label, cfg, None, vectorizer)
        X = clf._features(texts, embeddings)
        if cfg.knn_weight > 0:
            clf.bank = np.ascontiguousarray(np.asarray(embeddings, dtype=np.float32)[y != oos_label])
        init = previous if previous is not None and previous.compatible(clf) else None
        if calibration_set is not None:
            clf.model = clf._fit(X, y, init)
            c_texts, c_labels, c_emb = calibration_set
            clf._calibrate([feature_text(t) for t in c_texts], list(c_labels), c_emb)
        else:
            fit_idx, held_idx = _stratified_split(y, cfg.holdout, cfg.seed)
            if len(held_idx) and len(set(y[fit_idx])) == len(clf.classes):
                clf.model = clf._fit(X[fit_idx], y[fit_idx], init)
                clf._calibrate([texts[i] for i in held_idx], list(y[held_idx]), embeddings[held_idx])
                init = clf
            clf.model = clf._fit(X, y, init)
        clf.train_seconds = time.perf_counter() - started
        return clf

    def compatible(self, other: IntentClassifier) -> bool:
        """Same classes and feature space, so coefficients can seed the other's solver."""
        if self.model is None or self.classes != other.classes or self.config != other.config:
            return False
        a, b = self.vectorizer, other.vectorizer
        if a is None or b is None:
            return a is b
        return bool(a.vocabulary_ == b.vocabulary_)

    def _fit(self, X: Any, y: npt.NDArray[Any], init: IntentClassifier | None) -> Any:
        cfg = self.config
        model = LogisticRegression(C=cfg.C, max_iter=cfg.max_iter, tol=cfg.tol, warm_start=init is not None)
        if init is not None and init.model is not None and list(init.model.classes_) == sorted(set(y)):
            model.coef_ = init.model.coef_.copy()
            model.intercept_ = init.model.intercept_.copy()
            model.classes_ = init.model.classes_
        model.fit(X, y)
        return model

    def _features(self, texts: Sequence[str], embeddings: FloatArray) -> Any:
        dense = np.asarray(embeddings, dtype=np.float32) * self.config.embedding_weight
        if self.vectorizer is None:
            return dense
        tf = self.vectorizer.transform([t.lower() for t in texts])
        return sparse.hstack([sparse.csr_matrix(dense), tf], format="csr")

    # ------------------------------------------------------------------ prediction

    def probabilities(self, texts: Sequence[str], embeddings: FloatArray) -> tuple[FloatArray, list[str]]:
        """Class probabilities (rows sum to 1) and the class order; ``texts`` as given by the user."""
        X = self._features([feature_text(t) for t in texts], embeddings)
        P = np.asarray(self.model.predict_proba(X), dtype=np.float32)
        return P, [str(c) for c in self.model.classes_]

    def scores(self, probs: FloatArray, classes: list[str], embeddings: FloatArray) -> FloatArray:
        """The in-scope score of each row (higher = more surely one of the intents)."""
        score = _top_in_scope(probs, classes, self.oos_label)
        if self.oos_label in classes:
            score = score - probs[:, classes.index(self.oos_label)]
        if self.bank is not None and len(self.bank) and self.config.knn_weight > 0:
            sims = np.asarray(embeddings, dtype=np.float32) @ self.bank.T
            score = score + self.config.knn_weight * sims.max(axis=1)
        return np.asarray(score, dtype=np.float32)

    def decide(self, probs: FloatArray, classes: list[str], scores: FloatArray | None = None) -> list[Prediction]:
        """Intent per row. With a calibrated threshold, the score alone decides out-of-scope (it already weighs
        p(out_of_scope)); without one, the explicit out-of-scope class wins when it is the most probable."""
        out: list[Prediction] = []
        oos_col = classes.index(self.oos_label) if self.oos_label in classes else -1
        calibrated = scores is not None and self.threshold > NO_THRESHOLD
        for i, row in enumerate(probs):
            order = [int(j) for j in np.argsort(-row)]
            in_scope = [j for j in order if j != oos_col]
            if not in_scope:
                out.append(Prediction(self.oos_label, float(row[oos_col]), [(self.oos_label, float(row[oos_col]))]))
                continue
            best = in_scope[0]
            is_oos = float(scores[i]) < self.threshold if scores is not None and calibrated else order[0] == oos_col
            if is_oos:
                # As sure as the best intent was unsure (or as p(out_of_scope), whichever is higher).
                conf = max(1.0 - float(row[best]), float(row[oos_col]) if oos_col >= 0 else 0.0)
                ranking = [(self.oos_label, conf)] + [(classes[j], float(row[j])) for j in in_scope]
                out.append(Prediction(self.oos_label, conf, ranking))
            else:
                ranking = [(classes[j], float(row[j])) for j in in_scope]
                if oos_col >= 0:
                    ranking.append((self.oos_label, float(row[oos_col])))
                out.append(Prediction(classes[best], float(row[best]), ranking))
        return out

    def predict(self, texts: Sequence[str], embeddings: FloatArray) -> list[Prediction]:
        P, classes = self.probabilities(texts, embeddings)
        return self.decide(P, classes, self.scores(P, classes, embeddings))

    # ------------------------------------------------------------------ calibration

    def _calibrate(self, texts: list[str], labels: list[str], embeddings: FloatArray) -> None:
        P, classes = self.probabilities(texts, embeddings)
        oos_col = classes.index(self.oos_label) if self.oos_label in classes else -1
        masked = P.copy()
        if oos_col >= 0:
            masked[:, oos_col] = -1.0
        best_in_scope = [classes[j] for j in masked.argmax(axis=1)]
        explicit = (P.argmax(axis=1) == oos_col) if oos_col >= 0 else np.zeros(len(P), dtype=bool)
        calibration = calibrate_threshold(
            self.scores(P, classes, embeddings),
            best_in_scope,
            labels,
            self.oos_label,
            self.config.target_oos_precision,
            self.config.oos_prior,
            explicit=explicit,
            min_oos=self.config.min_oos_to_calibrate,
        )
        self.threshold = calibration.threshold
        self.calibration = calibration


def _top_in_scope(P: FloatArray, classes: list[str], oos_label: str) -> FloatArray:
    if oos_label not in classes:
        return np.asarray(P.max(axis=1), dtype=np.float32)
    masked = P.copy()
    masked[:, classes.index(oos_label)] = -1.0
    return np.asarray(masked.max(axis=1), dtype=np.float32)


def calibrate_threshold(
    scores: FloatArray,
    predicted: Sequence[str],
    labels: Sequence[str],
    oos_label: str,
    target_precision: float,
    oos_prior: float | None = None,
    *,
    explicit: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
    min_oos: int = 1,
) -> Calibration:
    """Pick the threshold on the in-scope score.

    ``predicted``: each row's best in-scope intent; ``explicit``: rows whose most probable class is
    ``oos_label``. With a threshold, a row is out of scope when its score is below it; with none
    (:data:`NO_THRESHOLD`, also when fewer than ``min_oos`` out-of-scope rows are held out), when it is
    explicit. Among
    thresholds whose out-of-scope precision is at least ``target_precision`` (computed as if out-of-scope rows
    made up ``oos_prior`` of the traffic, when given), take the one with the best in-scope accuracy +
    out-of-scope recall; with no out-of-scope rows (nothing to calibrate on) nothing is rejected.
    """
    y = np.asarray(labels)
    pred = np.asarray(predicted)
    is_oos = y == oos_label
    n_oos = int(is_oos.sum())
    n_in = int((~is_oos).sum())
    explicit_rows = pred == oos_label if explicit is None else np.asarray(explicit, dtype=bool)
    correct = (pred == y) & ~is_oos

    def metrics(t: float) -> tuple[float, float, float]:
        flagged = explicit_rows if t <= NO_THRESHOLD else scores < t
        tp = int((flagged & is_oos).sum())
        fp = int((flagged & ~is_oos).sum())
        acc = float((correct & ~flagged).sum() / n_in) if n_in else 0.0
        rec = tp / n_oos if n_oos else 0.0
        if oos_prior is not None and n_in:
            fpr = fp / n_in
            denom = oos_prior * rec + (1 - oos_prior) * fpr
            prec = oos_prior * rec / denom if denom else 1.0
        else:
            prec = tp / (tp + fp) if tp + fp else 1.0
        return acc, rec, prec

    best_t, best = NO_THRESHOLD, metrics(NO_THRESHOLD)
    if n_oos >= max(1, min_oos):
        candidates = np.unique(np.concatenate([[NO_THRESHOLD], np.quantile(scores, np.linspace(0, 0.6, 301))]))
        best_obj = -1.0
        for t in candidates:
            acc, rec, prec = metrics(float(t))
            if prec >= target_precision and acc + rec > best_obj:
                best_obj, best_t, best = acc + rec, float(t), (acc, rec, prec)
    return Calibration(best_t, best[0], best[1], best[2], len(y))


def _fit_vectorizer(texts: Sequence[str], cfg: ClassifierConfig) -> TfidfVectorizer:
    vec = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=cfg.ngram_range,
        sublinear_tf=True,
        min_df=2 if len(texts) > 2000 else 1,
        max_features=cfg.max_features,
        lowercase=True,
        dtype=np.float32,
    )
    vec.fit([t.lower() for t in texts])
    return vec


def _stratified_split(y: npt.NDArray[Any], share: float, seed: int) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Indices (fit, held-out): ``share`` of each class held out, at least one example kept for fitting."""
    rng = np.random.default_rng(seed)
    fit: list[int] = []
    held: list[int] = []
    for label in sorted(set(y.tolist())):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        k = round(len(idx) * share) if len(idx) >= 3 else 0
        held.extend(idx[:k].tolist())
        fit.extend(idx[k:].tolist())
    return np.asarray(sorted(fit), dtype=np.int64), np.asarray(sorted(held), dtype=np.int64)
