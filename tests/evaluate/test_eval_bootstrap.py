"""Bootstrap replicates: the vectorised weights agree with resampling the plain way (repeat, then re-run)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from x2softmax.evaluate import bootstrap
from x2softmax.evaluate.bootstrap import (bin_pairs, binned_sums, far_grid, fold_stratified_weights, ijb_tar_boot,
                                          oracle_accuracy_boot, percentile_interval, template_weights,
                                          ten_fold_accuracy_boot, verification_boot)
from x2softmax.evaluate.curves import tar_on_roc
from reference_evaluation import ijb_tar_bootstrap_loop, verification_bootstrap_loop
from x2softmax.evaluate.verification import fold_sizes, oracle_accuracy, ten_fold_accuracy


@pytest.fixture
def pairs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    issame = rng.random(600) < 0.5
    cos = np.round(rng.normal(0.2 + 0.35 * issame, 0.2), 2)  # rounded: many ties, as thresholds meet pairs
    return np.round(2.0 - 2.0 * cos, 3), cos, issame


def test_unit_weights_give_the_protocols_themselves(pairs):
    dist, cos, issame = pairs
    ones = np.ones((2, len(issame)), dtype=np.int32)
    assert ten_fold_accuracy_boot(dist, issame, ones).tolist() == [ten_fold_accuracy(dist, issame)[0].mean()] * 2
    assert oracle_accuracy_boot(cos, issame, ones).tolist() == [oracle_accuracy(cos, issame)[0]] * 2


def test_fold_stratified_weights_keep_every_fold_size():
    weights = fold_stratified_weights(603, 50, np.random.default_rng(1))
    bounds = np.cumsum([0, *fold_sizes(603)])
    for a, b in zip(bounds[:-1], bounds[1:]):
        assert (weights[:, a:b].sum(axis=1) == b - a).all()
    assert weights.min() >= 0 and (weights == 0).any()


@pytest.mark.parametrize("protocol", ["10fold", "oracle"])
def test_weighted_replicates_equal_the_resampling_loop(pairs, protocol):
    dist, cos, issame = pairs
    scores = dist if protocol == "10fold" else cos
    weights = fold_stratified_weights(len(issame), 40, np.random.default_rng(2))
    fast = verification_boot(scores, issame, protocol, weights)
    np.testing.assert_allclose(fast, verification_bootstrap_loop(scores, issame, protocol, weights), rtol=0, atol=1e-12)
    assert fast.std() > 0


def _suite(rng: np.random.Generator, n_templates: int, n_pairs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = rng.integers(0, n_templates, (n_pairs, 2))
    labels = (rng.random(n_pairs) < 0.3).astype(np.uint8)
    scores = rng.normal(0.1 + 0.5 * labels, 0.15)
    return scores, labels, rows


def test_ijb_unit_weights_give_the_full_roc_reading():
    rng = np.random.default_rng(3)
    scores, labels, rows = _suite(rng, 12, 80)  # at most 64 impostor pairs: every ROC step is on the grid
    fars = (2e-2, 5e-2, 1e-1, 3e-1)
    tars = ijb_tar_boot({"r": scores}, labels, rows, 12, fars, np.ones((3, 12), dtype=np.int32))["r"]
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    want = tar_on_roc(fpr, tpr, fars, n_impostors=int((labels == 0).sum()))
    assert tars.tolist() == [[want[far] for far in fars]] * 3


def test_ijb_template_replicates_equal_the_resampling_loop():
    rng = np.random.default_rng(4)
    scores, labels, rows = _suite(rng, 10, 80)
    fars = (2e-2, 1e-1, 3e-1)
    weights = template_weights(10, 30, rng)
    fast = ijb_tar_boot({"a": scores, "b": scores[::-1].copy()}, labels, rows, 10, fars, weights, block=7)
    for run, s in (("a", scores), ("b", scores[::-1].copy())):
        slow = ijb_tar_bootstrap_loop(s, labels, rows, weights, fars)
        finite = np.isfinite(slow)  # the loop leaves a FAR below 1/(resampled impostors) unmeasured
        np.testing.assert_array_equal(fast[run][finite], slow[finite])
    assert fast["a"].std(axis=0).max() > 0


def test_ijb_grid_reading_is_close_on_a_large_suite():
    rng = np.random.default_rng(5)
    scores, labels, rows = _suite(rng, 300, 20_000)
    fars = (1e-3, 1e-2, 1e-1)
    weights = template_weights(300, 5, rng)
    fast = ijb_tar_boot({"r": scores}, labels, rows, 300, fars, weights)["r"]
    slow = ijb_tar_bootstrap_loop(scores, labels, rows, weights, fars)
    assert np.abs(fast - slow).max() < 0.01  # FAR steps of 4.4 % on the grid: TAR within a point


def _pair_product_sums(rows, bins, n_bins, weights):
    """[n_bins, B] the plain way: w[a] * w[c] of every pair added to its bin."""
    out = np.zeros((n_bins, len(weights)))
    np.add.at(out, bins, (weights[:, rows[:, 0]] * weights[:, rows[:, 1]]).T.astype(np.float64))
    return out


def test_binned_sums_equal_the_per_pair_products(monkeypatch):
    monkeypatch.setattr(bootstrap, "ROW_CHUNK", 7)  # groups of one bin split across sparse row blocks
    rng = np.random.default_rng(6)
    rows = rng.integers(0, 9, (400, 2))
    rows[:50] = rows[50:100]  # repeated pairs: counts above 1
    bins = rng.integers(0, 5, 400)
    weights = template_weights(9, 11, rng)
    grouped = bin_pairs(rows, bins, 6, 9)
    assert len(grouped.chunks) > 1
    got = binned_sums(grouped, np.ascontiguousarray(weights.T, dtype=np.float32))
    np.testing.assert_array_equal(got, _pair_product_sums(rows, bins, 6, weights))


def test_binned_sums_use_float64_where_float32_row_sums_could_round():
    n_templates = 1 << 22  # a pair counted 4 times x 2^22 draws reaches 2^24
    rows = np.array([[0, 1]] * 4 + [[0, 2], [2, 3]])  # row 0 of bin 0: 4 x (2^22 - 1) + 5 = 2^24 + 1 in replicate 0
    bins = np.array([0, 0, 0, 0, 0, 1])
    weights = np.zeros((2, n_templates), dtype=np.int32)
    weights[:, :4] = [[3, (1 << 22) - 1, 5, 7], [1, 2, 3, 4]]
    grouped = bin_pairs(rows, bins, 2, n_templates)
    assert grouped.chunks[0].dtype == np.float64
    got = binned_sums(grouped, np.ascontiguousarray(weights.T, dtype=np.float32))
    np.testing.assert_array_equal(got, _pair_product_sums(rows, bins, 2, weights))


def test_binned_sums_use_float64_where_float32_products_could_round():
    rows, bins = np.array([[0, 1], [0, 2]]), np.array([0, 0])
    weights = np.array([[4097, 4097, 2]], dtype=np.int32)  # 4097 x (4097 + 2) = 16,793,603 > 2^24, odd
    grouped = bin_pairs(rows, bins, 1, 3)
    assert grouped.chunks[0].dtype == np.float32  # row sums are small; the product is not
    got = binned_sums(grouped, np.ascontiguousarray(weights.T, dtype=np.float32))
    assert got.tolist() == [[16_793_603.0]] != [[float(np.float32(16_793_603))]]


def test_far_grid_reads_the_ranks_of_the_sorted_impostor_scores():
    rng = np.random.default_rng(7)
    impostors = np.round(rng.normal(size=5000), 2)  # ties
    fars = (1e-3, 1e-2, 1e-1)
    ordered = np.sort(impostors)[::-1]
    steps = 2.0 ** (np.arange(-8, 9) / 16)
    ranks = {r for r in range(65)} | {min(int(np.ceil(f * 5000 * s)), 4999) for f in fars for s in steps}
    want = np.unique(ordered[sorted(ranks)])[::-1]
    np.testing.assert_array_equal(far_grid(impostors, fars), want)


def test_percentile_interval():
    low, high = percentile_interval(np.arange(1001.0))
    assert (low, high) == (pytest.approx(25.0), pytest.approx(975.0))


def test_oracle_replicates_switch_to_int64_where_int16_counts_could_overflow(pairs):
    """A replicate drawing 2^15 pairs or more (here 36,000) is counted in int64 and still equals the loop."""
    _, cos, issame = pairs
    weights = fold_stratified_weights(len(issame), 3, np.random.default_rng(4)) * 60
    assert weights.sum(axis=1).min() > np.iinfo(np.int16).max
    fast = oracle_accuracy_boot(cos, issame, weights)
    np.testing.assert_allclose(fast, verification_bootstrap_loop(cos, issame, "oracle", weights), rtol=0, atol=1e-12)
