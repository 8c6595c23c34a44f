"""IJB 1:1: N/D/F image features, template pooling, streamed pair scores, TAR@FAR."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from x2softmax.vocabulary import far_key
from x2softmax.evaluate.curves import lowest_measurable_far, not_measurable_reason, tar_at_far, tar_on_roc
from x2softmax.evaluate.ijb import image_features, pair_scores, template_features
from reference_evaluation import pair_scores_gather


@pytest.fixture
def views() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((6, 4)), rng.standard_normal((6, 4)), rng.uniform(0.5, 1.0, 6)


def test_flip_modes(views):
    emb, emb_flip, faceness = views
    assert np.allclose(image_features(emb, emb_flip, faceness, "N1D0F2"), emb + emb_flip)
    assert np.allclose(image_features(emb, emb_flip, faceness, "N1D0F1"), np.concatenate([emb, emb_flip], 1))
    assert np.allclose(image_features(emb, emb_flip, faceness, "N1D0F0"), emb)


def test_norm_and_faceness_modes(views):
    emb, emb_flip, faceness = views
    n0 = image_features(emb, emb_flip, faceness, "N0D0F2")
    assert np.allclose(np.linalg.norm(n0, axis=1), 1.0)
    assert np.allclose(n0, (emb + emb_flip) / np.linalg.norm(emb + emb_flip, axis=1, keepdims=True))
    n0d1 = image_features(emb, emb_flip, faceness, "N0D1F0")
    assert np.allclose(np.linalg.norm(n0d1, axis=1), faceness)  # faceness applied after normalising
    n1d1 = image_features(emb, emb_flip, faceness, "N1D1F2")
    assert np.allclose(n1d1, (emb + emb_flip) * faceness[:, None])
    assert n1d1.dtype == np.float32
    with pytest.raises(ValueError, match="unknown IJB feature mode"):
        image_features(emb, emb_flip, faceness, "N2D1F2")


def test_template_pooling_by_hand():
    feats = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, -3.0], [4.0, 4.0]])
    templates = np.array([1, 1, 1, 5, 5])
    media = np.array([10, 10, 11, 11, 12])  # media 11 appears in both templates: pooled per template
    ids, pooled = template_features(feats, templates, media)
    assert ids.tolist() == [1, 5]
    # template 1: mean([1,0],[3,0]) + [0,2] = [2,2]; template 5: [0,-3] + [4,4] = [4,1]
    assert np.allclose(pooled[0], np.array([2.0, 2.0]) / np.sqrt(8))
    assert np.allclose(pooled[1], np.array([4.0, 1.0]) / np.sqrt(17))
    assert pooled.dtype == np.float32


def test_template_pooling_is_order_free():
    rng = np.random.default_rng(1)
    feats = rng.standard_normal((40, 3))
    templates, media = rng.integers(0, 6, 40) * 7, rng.integers(100, 110, 40)
    perm = rng.permutation(40)
    a = template_features(feats, templates, media)
    b = template_features(feats[perm], templates[perm], media[perm], chunk=7)
    assert np.array_equal(a[0], b[0])
    assert np.allclose(a[1], b[1], atol=1e-6)


@pytest.fixture(params=[10_000, 10**12], ids=["table", "bisect"])
def scored_suite(request) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    ids = np.sort(rng.choice(request.param, 50, replace=False))
    feats = rng.standard_normal((50, 16)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    return feats, ids, ids[rng.integers(0, 50, (3000, 2))]


@pytest.mark.parametrize("method", ["blocked", "gather"])
def test_pair_scores_do_not_depend_on_batch_size(scored_suite, method):
    feats, ids, pairs = scored_suite
    reference = pair_scores_gather(feats, np.arange(len(ids)), np.searchsorted(ids, pairs))
    results = [pair_scores(feats, ids, pairs, batch_size=b, method=method) for b in (1, 7, 1000, 1_000_000)]
    for scores in results[1:]:
        assert np.array_equal(scores, results[0])
    assert results[0].dtype == np.float32
    assert np.allclose(results[0], reference, atol=1e-6)


def test_pair_scores_auto_picks_blocked_for_dense_sets(scored_suite):
    feats, ids, pairs = scored_suite
    assert np.array_equal(pair_scores(feats, ids, pairs), pair_scores(feats, ids, pairs, method="blocked"))


def test_pair_scores_refuse_unknown_templates(scored_suite):
    feats, ids, pairs = scored_suite
    bad = pairs.copy()
    bad[5, 1] = ids[-1] + 1
    bad[6, 0] = -1
    with pytest.raises(ValueError, match=f"2 pair template ids have no features.*-1, {ids[-1] + 1}"):
        pair_scores(feats, ids, bad)


def reference_tar_row(labels: np.ndarray, scores: np.ndarray, x_labels) -> list[float]:
    """Independent transcription of the reference reading (insightface eval_ijbc.py, X2 authors' evaluate_IJB.py):
    roc_curve(label, score); fpr = np.flipud(fpr); tpr = np.flipud(tpr); per target the tpr of
    min(zip(abs(fpr - target), range(len(fpr)))) -- the smallest distance, then the smallest reversed index."""
    fpr, tpr, _ = roc_curve(labels, scores)
    fpr = np.flipud(fpr)
    tpr = np.flipud(tpr)
    row = []
    for x in x_labels:
        _, min_index = min(list(zip(abs(fpr - x), range(len(fpr)))))
        row.append(tpr[min_index])
    return row


def test_tar_on_roc_takes_the_top_of_the_step_on_ties():
    # FPR 0.25 is reached by three ROC points (TPR 0.2, 0.4, 0.6): the reference reads the highest (flipud)
    fpr = np.array([0.0, 0.0, 0.25, 0.25, 0.25, 0.5, 1.0])
    tpr = np.array([0.0, 0.2, 0.2, 0.4, 0.6, 0.8, 1.0])
    tar = tar_on_roc(fpr, tpr, (0.0, 0.25, 0.3, 0.5), n_impostors=4)
    assert tar == {0.0: pytest.approx(np.nan, nan_ok=True), 0.25: 0.6, 0.3: 0.6, 0.5: 0.8}
    tar = tar_on_roc(fpr, tpr, (1e-9, 0.25), n_impostors=10**9)  # nominally measurable: nearest FPR is 0
    assert tar[1e-9] == 0.2  # the top of the FPR = 0 step, where np.argmin on the unreversed ROC gives 0.0
    assert tar[0.25] == 0.6
    # equidistant FPRs 0.25 and 0.5 from 0.375: the reference takes the first of the reversed ROC (0.5)
    assert tar_on_roc(fpr, tpr, (0.375,), n_impostors=4)[0.375] == 0.8


def test_tar_at_far_matches_the_reference_reading_on_random_scores():
    rng = np.random.default_rng(4)
    for trial in range(20):
        n = int(rng.integers(200, 6000))
        labels = (rng.random(n) < rng.uniform(0.05, 0.5)).astype(np.uint8)
        scores = (rng.standard_normal(n) + 2.0 * labels).astype(np.float32)
        if trial % 2:  # heavy ties, as with low-precision scores
            scores = np.round(scores, 1)
        fars = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
        tar = tar_at_far(scores, labels, fars)
        want = reference_tar_row(labels, scores, fars)
        n_impostors = int((labels == 0).sum())
        for far, expected in zip(fars, want):
            if far < 1.0 / n_impostors:
                assert np.isnan(tar[far])  # below one false accept: not measurable
            else:
                assert tar[far] == expected, (trial, far)
    assert far_key(1e-4) == "1e-04"
    with pytest.raises(ValueError, match="both genuine"):
        tar_at_far(scores, np.zeros(len(scores), np.uint8))


def test_lowest_measurable_far_and_reason():
    assert lowest_measurable_far(17_879) == pytest.approx(5.593e-5, rel=1e-3)
    assert "not measurable: FAR 1e-05 < 1/17879 impostor pairs (5.59e-05)" == not_measurable_reason(1e-5, 17_879)
    with pytest.raises(ValueError, match="at least one impostor"):
        lowest_measurable_far(0)


def test_blocked_scores_are_symmetric(scored_suite):
    feats, ids, pairs = scored_suite
    forward = pair_scores(feats, ids, pairs, method="blocked")
    assert np.array_equal(forward, pair_scores(feats, ids, pairs[:, ::-1], method="blocked"))
