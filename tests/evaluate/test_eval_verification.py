"""Pair verification: the insightface 10-fold protocol and the authors' oracle threshold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import KFold

from reference_evaluation import ten_fold_accuracy_loop
from x2softmax.evaluate.curves import l2_normalize
from x2softmax.evaluate.verification import (
    _threshold_at_far,
    evaluate_pairs,
    fold_indices,
    indexed_scores,
    kind_accuracy,
    squared_l2_distances,
    ten_fold_accuracy,
)


def _pairs_with_distances(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit 2-D embedding pairs whose squared L2 distance is `dist` (in [0, 4])."""
    angle = np.arccos(1.0 - dist / 2.0)
    emb1 = np.stack([np.ones_like(angle), np.zeros_like(angle)], axis=1)
    emb2 = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return emb1, emb2


def _random_pairs(rng: np.random.Generator, n: int, dim: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    issame = rng.random(n) < 0.5
    emb1 = rng.standard_normal((n, dim))
    noise = rng.standard_normal((n, dim))
    emb2 = np.where(issame[:, None], emb1 + 0.9 * noise, noise)
    return emb1, emb2, issame


def test_folds_are_contiguous_and_unshuffled():
    folds = fold_indices(105)
    assert len(folds) == 10
    tests = [test for _, test in folds]
    assert np.array_equal(np.concatenate(tests), np.arange(105))
    for (train, test) in folds:
        assert np.all(np.diff(test) == 1)
        assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(105))
    assert [len(t) for t in tests] == [11] * 5 + [10] * 5
    for (train, test), (kf_train, kf_test) in zip(folds, KFold(n_splits=10, shuffle=False).split(np.arange(105))):
        assert np.array_equal(train, kf_train) and np.array_equal(test, kf_test)


def test_ten_fold_known_answer_with_one_error():
    issame = np.tile([True, False], 100)  # 200 pairs, folds of 20
    dist = np.where(issame, 0.0, 2.0)
    dist[1] = 0.0  # an impostor pair in fold 0 indistinguishable from a genuine one
    emb1, emb2 = _pairs_with_distances(dist)
    result = evaluate_pairs(emb1, emb2, issame, protocol="10fold")
    expected = np.array([0.95] + [1.0] * 9)
    assert result["protocol"] == "10fold"
    assert result["fold_accuracies"] == pytest.approx(expected.tolist())
    assert result["accuracy"] == pytest.approx(expected.mean())
    assert result["std"] == pytest.approx(np.std(expected))
    assert result["thresholds"] == pytest.approx([0.01] * 10)  # first maximum of the 0:4:0.01 grid


@pytest.mark.parametrize("n_pairs", [600, 607])
def test_vectorised_ten_fold_equals_threshold_loop(n_pairs):
    rng = np.random.default_rng(3)
    emb1, emb2, issame = _random_pairs(rng, n_pairs)
    dist = squared_l2_distances(emb1, emb2)
    fast_acc, fast_thr = ten_fold_accuracy(dist, issame)
    loop_acc, loop_thr = ten_fold_accuracy_loop(dist, issame)
    assert np.array_equal(fast_acc, loop_acc)
    assert np.array_equal(fast_thr, loop_thr)
    assert 0.5 < fast_acc.mean() < 1.0


def test_val_at_far_on_perfect_separation():
    issame = np.tile([True, False], 100)
    # impostors sit between two thresholds of the 0:4:0.001 grid: the threshold interpolated to FAR 1e-3 on the
    # training folds (3.000 + 0.001 * 1e-3) accepts every genuine pair and no impostor
    emb1, emb2 = _pairs_with_distances(np.where(issame, 0.5, 3.0005))
    result = evaluate_pairs(emb1, emb2, issame)
    assert result["val"] == 1.0 and result["far"] == 0.0 and result["val_std"] == 0.0


def test_threshold_at_far_follows_old_scipy_slinear():
    thresholds = np.arange(6, dtype=float)
    far = np.array([0.0, 0.0, 0.0005, 0.0005, 0.002, 0.002])
    # last point at or below 1e-3 is (0.0005, 3), the next larger FAR is (0.002, 4)
    assert _threshold_at_far(far, thresholds, 1e-3) == pytest.approx(3 + 0.0005 / 0.0015)
    assert _threshold_at_far(far, thresholds, 0.01) == 0.0  # target never reached
    assert _threshold_at_far(far, thresholds, 0.002) == 4.0  # target equals the largest FAR


def test_oracle_known_answer_and_threshold():
    cos = np.array([0.9, 0.8, 0.3, 0.7, 0.1, 0.2])
    issame = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    emb1 = np.stack([np.ones(6), np.zeros(6)], axis=1) * 3.0  # the norm must not matter
    emb2 = np.stack([cos, np.sqrt(1 - cos**2)], axis=1)
    result = evaluate_pairs(emb1, emb2, issame, protocol="oracle")
    assert result["protocol"] == "oracle"
    assert result["accuracy"] == 1.0
    assert result["thresholds"] == pytest.approx([0.3])  # the first pair (in order) reaching the best accuracy


def test_oracle_equals_authors_loop_and_bounds_ten_fold():
    rng = np.random.default_rng(5)
    emb1, emb2, issame = _random_pairs(rng, 300)
    cos = np.sum(emb1 * emb2, 1) / (np.linalg.norm(emb1, axis=1) * np.linalg.norm(emb2, axis=1))
    best_acc, best_thr = 0.0, 1.0
    for th in cos:  # the X2-Softmax authors' loop
        acc = np.sum((cos > th) == issame) / len(cos)
        if acc > best_acc:
            best_acc, best_thr = acc, th
    oracle = evaluate_pairs(emb1, emb2, issame, protocol="oracle")
    assert oracle["accuracy"] == best_acc
    assert oracle["thresholds"][0] == pytest.approx(best_thr)
    assert oracle["accuracy"] >= evaluate_pairs(emb1, emb2, issame)["accuracy"]


def test_bad_inputs_are_refused():
    emb = np.ones((20, 4))
    with pytest.raises(ValueError, match="unknown verification protocol"):
        evaluate_pairs(emb, emb, np.ones(20, bool), protocol="5fold")
    with pytest.raises(ValueError, match="one entry per pair"):
        evaluate_pairs(emb, emb, np.ones(19, bool))
    with pytest.raises(ValueError, match="one shape"):
        evaluate_pairs(emb, emb[:, :3], np.ones(20, bool))
    with pytest.raises(ValueError, match="at least 10 pairs"):
        evaluate_pairs(emb[:5], emb[:5], np.ones(5, bool))


def test_threshold_at_far_equals_the_linear_bspline_old_scipy_built():
    # scipy <= 1.8 interp1d(kind="slinear") = make_interp_spline(k=1) = BSpline(r_[x0, x, x_last], y, 1)
    from scipy.interpolate import BSpline

    rng = np.random.default_rng(7)
    thresholds = np.arange(0, 4, 0.001)
    for _ in range(20):
        far = np.sort(np.round(rng.random(len(thresholds)) ** 6, 4))  # non-decreasing, many duplicates
        far[0] = 0.0
        spline = BSpline(np.r_[far[0], far, far[-1]], thresholds, 1)
        for target in (1e-3, 1e-2, 0.3):
            assert _threshold_at_far(far, thresholds, target) == pytest.approx(float(spline(target)), abs=1e-12)


def test_val_below_the_measurable_far_is_missing_with_a_reason():
    from x2softmax.evaluate.summary import verification_rows

    rng = np.random.default_rng(11)
    for n_pairs, measurable in ((6000, True), (200, False)):
        issame = np.arange(n_pairs) % 2 == 0
        emb1 = rng.standard_normal((n_pairs, 8))
        emb2 = np.where(issame[:, None], emb1 + 0.5 * rng.standard_normal((n_pairs, 8)), rng.standard_normal((n_pairs, 8)))
        result = evaluate_pairs(emb1, emb2, issame, "10fold", far_target=1e-3)
        # the threshold is chosen on 9 folds: their impostor pairs bound the lowest FAR it can aim at
        assert result["lowest_measurable_far"] == pytest.approx(1.0 / (0.9 * n_pairs / 2))
        rows = {metric: (value, note) for metric, value, note in verification_rows(result)}
        value, note = rows["val_at_far_1e-03_pct"]
        if measurable:
            assert not np.isnan(value) and note == ""
        else:
            assert np.isnan(value) and note.startswith("not measurable: FAR 1e-03 < 1/(impostor pairs")
            assert np.isnan(rows["far_at_val_threshold_pct"][0])
        assert not np.isnan(rows["accuracy_pct"][0])


def test_oracle_flip_is_the_oracle_rule_on_the_embeddings_given():
    rng = np.random.default_rng(12)
    issame = rng.random(300) < 0.5
    emb1, emb2 = rng.standard_normal((300, 8)), rng.standard_normal((300, 8))
    a = evaluate_pairs(emb1, emb2, issame, "oracle")
    b = evaluate_pairs(emb1, emb2, issame, "oracle_flip")
    assert a["accuracy"] == b["accuracy"] and a["thresholds"] == b["thresholds"] and b["protocol"] == "oracle_flip"


def test_kind_accuracy_reads_the_ten_fold_decisions_per_kind() -> None:
    rng = np.random.default_rng(5)
    issame = np.tile(np.repeat([True, False], 30), 10)
    kinds = np.where(issame, "genuine", np.where(rng.random(600) < 0.5, "lookalike", "random"))
    dist = np.where(issame, 0.8, np.where(kinds == "lookalike", 1.1, 1.6)) + 0.3 * rng.standard_normal(600)
    _, chosen = ten_fold_accuracy_loop(dist, issame)
    correct = [(dist[i] < chosen[i // 60]) == issame[i] for i in range(600)]  # 10 contiguous folds of 60
    kind_names = ("genuine", "lookalike", "random")
    expected = {k: float(np.mean([c for c, kind in zip(correct, kinds) if kind == k])) for k in kind_names}
    result = kind_accuracy(dist, issame, kinds)
    assert result == pytest.approx(expected)
    assert result["lookalike"] < result["random"]


def test_indexed_scores_equal_the_gathered_rows_byte_for_byte():
    """Each distinct image normalised once (the evaluation job: 3,200 images in 24,000 pairs) gives the bytes of
    the per-pair computation on the gathered rows (every step is per row)."""
    rng = np.random.default_rng(5)
    emb = (rng.standard_normal((301, 64)) * 3).astype(np.float32).astype(np.float64)
    first, second = rng.integers(0, 301, 2000), rng.integers(0, 301, 2000)
    a, b = emb[first], emb[second]
    gathered = {"10fold": np.sum(np.square(l2_normalize(a) - l2_normalize(b)), axis=1),
                "oracle": np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))}
    for protocol in ("10fold", "oracle", "oracle_flip"):
        expected = gathered["10fold" if protocol == "10fold" else "oracle"]
        assert indexed_scores(emb, first, second, protocol).tobytes() == expected.tobytes()
    with pytest.raises(ValueError, match="unknown verification protocol"):
        indexed_scores(emb, first, second, "1N")
