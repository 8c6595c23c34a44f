"""The scikit-learn transcriptions equal scikit-learn's own roc_curve and normalize exactly (ties, zero rows)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_curve as sk_roc_curve
from sklearn.preprocessing import normalize as sk_normalize

from x2softmax.evaluate.curves import l2_normalize, roc_curve


def _same(ours, theirs) -> None:
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("seed", range(12))
def test_roc_curve_equals_sklearn_on_random_and_tied_scores(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 3000))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = rng.normal(labels * rng.uniform(0, 2), 1, n).astype(np.float32)
    if seed % 3 == 1:
        scores = np.round(scores, 1)  # many ties, some across labels
    if seed % 3 == 2:
        scores = rng.integers(-3, 4, n).astype(np.float64)  # a handful of distinct values: collinear runs
    _same(roc_curve(labels, scores), sk_roc_curve(labels, scores))


def test_roc_curve_on_hand_made_cases():
    cases = [([0, 1], [0.5, 0.5]), ([0, 1, 1, 0], [0.1, 0.9, 0.9, 0.1]), ([1, 0, 1, 0, 1], [0.0, -0.0, 1.0, 2.0, 2.0]),
             ([0, 0, 1, 1, 1, 0], [3, 2, 2, 1, 1, 0])]
    for labels, scores in cases:
        _same(roc_curve(np.array(labels), np.array(scores)), sk_roc_curve(labels, scores))


def test_roc_curve_refuses_one_class_and_non_finite_scores():
    with pytest.raises(ValueError, match="both positives"):
        roc_curve(np.ones(4), np.arange(4.0))
    with pytest.raises(ValueError, match="finite"):
        roc_curve(np.array([0, 1]), np.array([0.0, np.nan]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_l2_normalize_equals_sklearn_with_zero_and_tiny_rows(dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 17)).astype(dtype)
    x[3] = 0
    x[7] = 1e-300 if dtype == np.float64 else 1e-30
    x[9] *= 1e6
    ours = l2_normalize(x)
    assert ours.dtype == dtype and np.array_equal(ours, sk_normalize(x)) and not np.shares_memory(ours, x)
    assert np.array_equal(l2_normalize(np.arange(6).reshape(2, 3)), sk_normalize(np.arange(6).reshape(2, 3)))
