"""Pair verification on the .bin sets under the protocols of docs/spec protocols.md (plus "oracle_flip").

"10fold" is the insightface protocol (``recognition/arcface_torch/eval/verification.py``): the caller passes
flip-summed embeddings; they are L2-normalised, the distance is the squared L2 distance, 10 contiguous folds
(KFold without shuffling), per fold the first threshold of ``np.arange(0, 4, 0.01)`` maximising accuracy on the
other nine folds scores the held-out fold; mean and population std of the fold accuracies. VAL@FAR uses the
thresholds ``np.arange(0, 4, 0.001)``: per fold the training FAR curve is interpolated (``interp1d(far, thr,
kind="slinear")`` as scipy <= 1.8 evaluated it: duplicate FAR values allowed, the linear piece between the last
threshold at or below the target FAR and the next larger FAR) at the target, or 0 when the target is never reached;
VAL and FAR are then measured on the held-out fold. Modern scipy refuses the duplicate FAR values, so the
piecewise-linear evaluation is written out here. Where the target equals the largest training FAR and old scipy
would divide by a zero-length piece, the lowest threshold reaching the target is used.

"oracle" is the X2-Softmax authors' protocol (their ``verification.py``): no flip (the caller passes f(x) only),
cosine similarity, every pair's cosine tried as the threshold in pair order (same if cos > thr) over the whole
set; the first best accuracy and its threshold are reported. "oracle_flip" is the same rule on the flip-summed
embeddings the 10-fold protocol uses (the caller passes them), so that oracle_flip vs 10fold isolates the threshold
choice and oracle vs oracle_flip the flip. No ordering between oracle and 10fold holds: the oracle picks its
threshold on the test pairs (optimistic) but sees no flip (pessimistic), and either effect can win.

All counts over thresholds come from one ``np.searchsorted`` of the distances into the thresholds and a histogram
per fold and label: no loop over thresholds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from x2softmax.evaluate.curves import l2_normalize
from x2softmax.vocabulary import PROTOCOLS

N_FOLDS = 10
ACCURACY_THRESHOLDS = np.arange(0, 4, 0.01)
VAL_THRESHOLDS = np.arange(0, 4, 0.001)


def fold_sizes(n_pairs: int, n_folds: int = N_FOLDS) -> np.ndarray:
    """Sizes of the contiguous folds of sklearn's unshuffled KFold (the first n_pairs % n_folds one larger)."""
    if n_pairs < n_folds:
        raise ValueError(f"{n_folds}-fold verification needs at least {n_folds} pairs, got {n_pairs}")
    sizes = np.full(n_folds, n_pairs // n_folds)
    sizes[: n_pairs % n_folds] += 1
    return sizes


def fold_indices(n_pairs: int, n_folds: int = N_FOLDS) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays of the contiguous, unshuffled KFold split insightface uses."""
    bounds = np.concatenate([[0], np.cumsum(fold_sizes(n_pairs, n_folds))])
    idx = np.arange(n_pairs)
    return [(np.concatenate([idx[:a], idx[b:]]), idx[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def indexed_scores(emb: np.ndarray, first: np.ndarray, second: np.ndarray, protocol: str) -> np.ndarray:
    """Per-pair scores (float64) of the pairs (emb[first[i]], emb[second[i]]): squared L2 distance of the normalised
    rows for "10fold", cosine similarity for the oracles. Each row is normalised (or its norm taken) once, however
    many pairs hold it; every step is per row, so the bytes equal those of the rows gathered first."""
    emb = np.asarray(emb, dtype=np.float64)
    if protocol == "10fold":
        unit = l2_normalize(emb)
        return np.sum(np.square(unit[first] - unit[second]), axis=1)
    if protocol in ("oracle", "oracle_flip"):
        norms = np.linalg.norm(emb, axis=1)
        return np.sum(emb[first] * emb[second], axis=1) / (norms[first] * norms[second])
    raise ValueError(f"unknown verification protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


def _stacked(emb1: np.ndarray, emb2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two [P, D] arrays as one [2P, D] array (float64) with the row indices of each pair's two rows."""
    n = len(emb1)
    stacked = np.concatenate([np.asarray(emb1, dtype=np.float64), np.asarray(emb2, dtype=np.float64)])
    return stacked, np.arange(n), np.arange(n, 2 * n)


def squared_l2_distances(emb1: np.ndarray, emb2: np.ndarray) -> np.ndarray:
    """Squared L2 distance (float64) between the L2-normalised rows of two embedding arrays."""
    return indexed_scores(*_stacked(emb1, emb2), "10fold")


def cosine_similarities(emb1: np.ndarray, emb2: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity (float64) of two embedding arrays."""
    return indexed_scores(*_stacked(emb1, emb2), "oracle")


def fold_impostors(issame: np.ndarray, n_folds: int = N_FOLDS) -> np.ndarray:
    """[F] impostor pairs in each contiguous fold."""
    sizes = fold_sizes(len(issame), n_folds)
    return sizes - np.add.reduceat(np.asarray(issame, dtype=np.int64), np.concatenate([[0], np.cumsum(sizes)[:-1]]))


def fold_cells(dist: np.ndarray, issame: np.ndarray, thresholds: np.ndarray, n_folds: int = N_FOLDS) -> np.ndarray:
    """Per pair its cell (fold, label, number of thresholds <= dist) of a [F, 2, T + 1] histogram, flattened."""
    fold = np.repeat(np.arange(n_folds), fold_sizes(len(dist), n_folds))
    # dist < thr[j]  <=>  j >= (number of thresholds <= dist): a histogram of that number, accumulated over j
    k = np.searchsorted(thresholds, dist, side="right")
    return (fold * 2 + np.asarray(issame, dtype=np.int64)) * (len(thresholds) + 1) + k


def fold_counts(dist: np.ndarray, issame: np.ndarray, thresholds: np.ndarray,
                n_folds: int = N_FOLDS) -> np.ndarray:
    """[F, 2, T] counts of pairs with dist < thr per fold, label (0 impostor, 1 genuine) and ascending threshold."""
    n_thr = len(thresholds)
    cells = fold_cells(dist, issame, thresholds, n_folds)
    hist = np.bincount(cells, minlength=n_folds * 2 * (n_thr + 1)).reshape(n_folds, 2, n_thr + 1)
    return np.cumsum(hist, axis=2)[:, :, :n_thr]


def ten_fold_accuracy(dist: np.ndarray, issame: np.ndarray,
                      thresholds: np.ndarray = ACCURACY_THRESHOLDS) -> tuple[np.ndarray, np.ndarray]:
    """Held-out accuracy of each fold and the threshold chosen on the other folds (insightface calculate_roc)."""
    issame = np.asarray(issame, dtype=bool)
    sizes = fold_sizes(len(dist))
    counts = fold_counts(dist, issame, thresholds)
    n_diff = fold_impostors(issame)
    correct = counts[:, 1] + (n_diff[:, None] - counts[:, 0])  # [F, T]: genuine accepted + impostors rejected
    train_correct = correct.sum(axis=0) - correct
    best = np.argmax(train_correct / (len(dist) - sizes)[:, None].astype(float), axis=1)  # first maximum per fold
    folds = np.arange(len(sizes))
    return correct[folds, best] / sizes.astype(float), thresholds[best]


def kind_accuracy(dist: np.ndarray, issame: np.ndarray, kinds: np.ndarray,
                  thresholds: np.ndarray = ACCURACY_THRESHOLDS) -> dict[str, float]:
    """Per pair kind (e.g. genuine, lookalike, random: `synthetic.plan.pair_kinds`) the share of its pairs decided
    right at the 10-fold protocol's held-out thresholds (a pair is same when dist < its fold's threshold)."""
    issame, kinds = np.asarray(issame, dtype=bool), np.asarray(kinds)
    _, chosen = ten_fold_accuracy(dist, issame, thresholds)
    fold = np.repeat(np.arange(len(chosen)), fold_sizes(len(dist)))
    correct = (np.asarray(dist) < chosen[fold]) == issame
    return {str(kind): float(correct[kinds == kind].mean()) for kind in np.unique(kinds)}


def _threshold_at_far(far: np.ndarray, thresholds: np.ndarray, far_target: float) -> float:
    """Threshold where a non-decreasing FAR curve reaches the target (slinear interpolation, old-scipy rule)."""
    if far.max() < far_target:
        return 0.0
    j = int(np.searchsorted(far, far_target, side="right")) - 1  # last index with far <= target
    if j < 0:
        raise ValueError(f"the FAR curve starts above the target FAR {far_target} (at threshold {thresholds[0]})")
    if j == len(far) - 1:  # the target is the largest FAR: the lowest threshold reaching it
        return float(thresholds[int(np.searchsorted(far, far_target, side="left"))])
    xa, xb = far[j], far[j + 1]
    w = 1.0 / (xb - xa)
    return float(thresholds[j] * (w * (xb - far_target)) + thresholds[j + 1] * (w * (far_target - xa)))


def ten_fold_val(dist: np.ndarray, issame: np.ndarray, far_target: float = 1e-3,
                 thresholds: np.ndarray = VAL_THRESHOLDS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per fold VAL and FAR on the held-out fold at the threshold reaching `far_target` on the others."""
    issame = np.asarray(issame, dtype=bool)
    false_accepts = fold_counts(dist, issame, thresholds)[:, 0]
    folds = fold_indices(len(dist))
    n_diff = fold_impostors(issame)
    val = np.empty(len(folds))
    far = np.empty(len(folds))
    thr = np.empty(len(folds))
    for f, (_, test) in enumerate(folds):
        train_diff = n_diff.sum() - n_diff[f]
        train_fa = false_accepts.sum(axis=0) - false_accepts[f]
        far_train = train_fa / float(train_diff) if train_diff else np.zeros(len(thresholds))
        thr[f] = _threshold_at_far(far_train, thresholds, far_target)
        accepted = dist[test] < thr[f]
        same = issame[test]
        val[f] = (accepted & same).sum() / float(same.sum()) if same.any() else 0.0
        far[f] = (accepted & ~same).sum() / float((~same).sum()) if (~same).any() else 0.0
    return val, far, thr


def oracle_accuracy(cos: np.ndarray, issame: np.ndarray) -> tuple[float, float]:
    """Best accuracy over thresholds taken from the pairs' own cosines (same if cos > thr); (accuracy, threshold)."""
    issame = np.asarray(issame, dtype=bool)
    same_sorted = np.sort(cos[issame])
    diff_sorted = np.sort(cos[~issame])
    true_accepts = len(same_sorted) - np.searchsorted(same_sorted, cos, side="right")  # genuine with cos > thr
    true_rejects = np.searchsorted(diff_sorted, cos, side="right")  # impostors with cos <= thr
    correct = true_accepts + true_rejects
    best = int(np.argmax(correct))  # first maximum in pair order, as the authors' strict '>' update
    return float(correct[best] / len(cos)), float(cos[best])


def protocol_scores(emb1: np.ndarray, emb2: np.ndarray, protocol: str) -> np.ndarray:
    """Per-pair scores a protocol thresholds: squared L2 distance of the normalised rows for "10fold", cosine
    similarity for the oracles."""
    emb1 = np.asarray(emb1)
    emb2 = np.asarray(emb2)
    if emb1.ndim != 2 or emb1.shape != emb2.shape:
        raise ValueError(f"pair embeddings must be two [P, D] arrays of one shape, got {emb1.shape} and {emb2.shape}")
    if protocol == "10fold":
        return squared_l2_distances(emb1, emb2)
    if protocol in ("oracle", "oracle_flip"):
        return cosine_similarities(emb1, emb2)
    raise ValueError(f"unknown verification protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


def score_metrics(scores: np.ndarray, issame: np.ndarray, protocol: str = "10fold", far_target: float = 1e-3,
                  embedding_norm: float | None = None) -> dict[str, Any]:
    """Verification metrics of per-pair scores (`protocol_scores`) under a named protocol; JSON-serialisable dict."""
    scores = np.asarray(scores)
    issame = np.asarray(issame)
    if issame.shape != (len(scores),):
        raise ValueError(f"issame must have one entry per pair ({len(scores)}), got shape {issame.shape}")
    if not np.isin(issame, (0, 1)).all():
        raise ValueError("issame must hold booleans (0/1)")
    issame = issame.astype(bool)
    result: dict[str, Any] = {"protocol": protocol, "n_pairs": int(len(issame)), "n_genuine": int(issame.sum())}
    if protocol == "10fold":
        accuracies, chosen = ten_fold_accuracy(scores, issame)
        val, far, _ = ten_fold_val(scores, issame, far_target)
        n_diff = fold_impostors(issame)
        train_impostors = int(n_diff.sum() - n_diff.max())  # the smallest training split's impostor pairs
        result.update(
            lowest_measurable_far=1.0 / train_impostors if train_impostors else math.inf,
            accuracy=float(np.mean(accuracies)), std=float(np.std(accuracies)),
            fold_accuracies=accuracies.tolist(), thresholds=chosen.tolist(),
            far_target=far_target, val=float(np.mean(val)), val_std=float(np.std(val)), far=float(np.mean(far)),
            embedding_norm=None if embedding_norm is None else float(embedding_norm),
        )
    elif protocol in ("oracle", "oracle_flip"):
        accuracy, threshold = oracle_accuracy(scores, issame)
        result.update(accuracy=accuracy, std=None, fold_accuracies=None, thresholds=[threshold],
                      far_target=None, val=None, val_std=None, far=None, embedding_norm=None)
    else:
        raise ValueError(f"unknown verification protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    return result


def evaluate_pairs(emb1: np.ndarray, emb2: np.ndarray, issame: np.ndarray, protocol: str = "10fold",
                   far_target: float = 1e-3, embedding_norm: float | None = None) -> dict[str, Any]:
    """Verification metrics of pairs (emb1[i], emb2[i]) under a named protocol; JSON-serialisable dict."""
    scores = protocol_scores(emb1, emb2, protocol)
    return score_metrics(scores, issame, protocol, far_target, embedding_norm)
