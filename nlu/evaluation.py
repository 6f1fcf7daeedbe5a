"""Cross-validation of the builtin engine on training data: per-intent precision/recall/F1 and confusions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nlu.classifier import ClassifierConfig, IntentClassifier
from nlu.engines.builtin import EmbeddingCache
from nlu.parse import OUT_OF_SCOPE
from nlu.training_data import TrainingData

__all__ = ["CrossValidation", "IntentScore", "cross_validate", "intent_scores"]


@dataclass(frozen=True)
class IntentScore:
    intent: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class CrossValidation:
    folds: int
    examples: int
    accuracy: float
    macro_f1: float
    intents: list[IntentScore]
    confusions: list[tuple[str, str, int, list[str]]] = field(default_factory=list)
    """(expected, predicted, count, up to 3 example texts), most frequent first."""

    def as_dict(self) -> dict[str, object]:
        return {
            "folds": self.folds,
            "examples": self.examples,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "intents": {
                s.intent: {
                    "precision": round(s.precision, 4),
                    "recall": round(s.recall, 4),
                    "f1": round(s.f1, 4),
                    "support": s.support,
                }
                for s in self.intents
            },
            "confusions": [
                {"expected": a, "predicted": b, "count": n, "examples": ex} for a, b, n, ex in self.confusions
            ],
        }


def intent_scores(expected: Sequence[str], predicted: Sequence[str]) -> tuple[list[IntentScore], float]:
    """Per-intent scores over every intent that occurs in ``expected`` or ``predicted``, and their macro-F1."""
    labels = sorted(set(expected) | set(predicted))
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for e, p in zip(expected, predicted, strict=True):
        if e == p:
            tp[e] += 1
        else:
            fp[p] += 1
            fn[e] += 1
    scores = []
    for label in labels:
        prec = tp[label] / (tp[label] + fp[label]) if tp[label] + fp[label] else 0.0
        rec = tp[label] / (tp[label] + fn[label]) if tp[label] + fn[label] else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        scores.append(IntentScore(label, prec, rec, f1, tp[label] + fn[label]))
    supported = [s for s in scores if s.support]
    macro = float(np.mean([s.f1 for s in supported])) if supported else 0.0
    return scores, macro


def cross_validate(
    data: TrainingData,
    cache: EmbeddingCache,
    folds: int = 5,
    config: ClassifierConfig | None = None,
    seed: int = 0,
    top_confusions: int = 10,
) -> CrossValidation:
    """Stratified k-fold: each example is predicted by a model trained (and calibrated) without it."""
    texts = [e.text for e in data.examples]
    labels = np.asarray([e.intent for e in data.examples])
    emb, _ = cache.embed(texts)
    rng = np.random.default_rng(seed)
    fold_of = np.zeros(len(texts), dtype=np.int64)
    for label in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        fold_of[idx] = np.arange(len(idx)) % folds
    predicted = np.empty(len(texts), dtype=object)
    for k in range(folds):
        train = np.flatnonzero(fold_of != k)
        test = np.flatnonzero(fold_of == k)
        clf = IntentClassifier.train(
            [texts[i] for i in train], labels[train].tolist(), emb[train], oos_label=OUT_OF_SCOPE, config=config
        )
        preds = clf.predict([texts[i] for i in test], emb[test])
        for i, p in zip(test, preds, strict=True):
            predicted[i] = p.intent
    expected = labels.tolist()
    got = [str(p) for p in predicted]
    scores, macro = intent_scores(expected, got)
    pairs: Counter[tuple[str, str]] = Counter()
    samples: dict[tuple[str, str], list[str]] = {}
    for text, e, g in zip(texts, expected, got, strict=True):
        if e != g:
            pairs[(e, g)] += 1
            samples.setdefault((e, g), [])
            if len(samples[(e, g)]) < 3:
                samples[(e, g)].append(text)
    confusions = [(a, b, n, samples[(a, b)]) for (a, b), n in pairs.most_common(top_confusions)]
    accuracy = float(np.mean([e == p for e, p in zip(expected, got, strict=True)]))
    return CrossValidation(folds, len(texts), accuracy, macro, scores, confusions)
