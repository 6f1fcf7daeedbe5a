"""Threshold calibration of the out-of-scope decision (pure numbers, no model)."""

from __future__ import annotations

import numpy as np

from nlu.classifier import NO_THRESHOLD, calibrate_threshold

OOS = "out_of_scope"


def _heldout(n_in: int, n_oos: int, seed: int = 0) -> tuple[np.ndarray, list[str], list[str]]:
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(1.5, 0.2, n_in), rng.normal(0.9, 0.2, n_oos)]).astype(np.float32)
    labels = ["intent"] * n_in + [OOS] * n_oos
    return scores, ["intent"] * (n_in + n_oos), labels


def test_threshold_keeps_the_precision_target() -> None:
    scores, predicted, labels = _heldout(900, 100)
    cal = calibrate_threshold(scores, predicted, labels, OOS, 0.9)
    flagged = scores < cal.threshold
    is_oos = np.asarray(labels) == OOS
    precision = (flagged & is_oos).sum() / flagged.sum()
    assert precision >= 0.9
    assert cal.oos_recall > 0.6
    assert abs(cal.oos_precision - precision) < 1e-9


def test_no_out_of_scope_data_rejects_nothing() -> None:
    scores, predicted, labels = _heldout(500, 0)
    cal = calibrate_threshold(scores, predicted, labels, OOS, 0.9)
    assert cal.threshold == NO_THRESHOLD
    assert cal.in_scope_accuracy == 1.0


def test_expected_share_of_out_of_scope_moves_the_threshold() -> None:
    """With 3% out-of-scope held out, the raw precision is pessimistic for traffic that has 18%."""
    scores, predicted, labels = _heldout(3000, 100, seed=1)
    raw = calibrate_threshold(scores, predicted, labels, OOS, 0.9)
    at_prior = calibrate_threshold(scores, predicted, labels, OOS, 0.9, oos_prior=0.18)
    assert at_prior.threshold > raw.threshold
    assert at_prior.oos_recall > raw.oos_recall


def test_explicit_out_of_scope_predictions_count() -> None:
    scores = np.array([2.0, 2.0, 2.0, 2.0], dtype=np.float32)
    cal = calibrate_threshold(scores, ["a", "b", OOS, OOS], ["a", "b", OOS, OOS], OOS, 0.9)
    assert (cal.oos_recall, cal.oos_precision, cal.in_scope_accuracy) == (1.0, 1.0, 1.0)
