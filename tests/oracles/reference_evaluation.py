"""Straightforward implementations the fast ones are checked and benchmarked against.

They follow insightface line by line (eval/verification.py ``calculate_roc``: a loop over the 400 thresholds per
fold; eval_ijbc.py ``verification``: gather both template rows and take the row-wise dot, 100,000 pairs a batch).
The bootstrap loops resample the plain way: per replicate, repeat each unit as often as it was drawn and run the
ordinary metric on the expanded set. They are slow on purpose: tests compare results, bench/evaluation.py
compares speed.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve
from sklearn.model_selection import KFold

from x2softmax.evaluate.curves import tar_on_roc
from x2softmax.evaluate.verification import ACCURACY_THRESHOLDS, oracle_accuracy, ten_fold_accuracy


def accuracy_at(threshold: float, dist: np.ndarray, issame: np.ndarray) -> float:
    """Accuracy of predicting "same" when dist < threshold (insightface calculate_accuracy)."""
    predict = np.less(dist, threshold)
    tp = np.sum(np.logical_and(predict, issame))
    tn = np.sum(np.logical_and(np.logical_not(predict), np.logical_not(issame)))
    return float(tp + tn) / dist.size


def ten_fold_accuracy_loop(dist: np.ndarray, issame: np.ndarray,
                           thresholds: np.ndarray = ACCURACY_THRESHOLDS) -> tuple[np.ndarray, np.ndarray]:
    """Per-fold held-out accuracy and chosen threshold, looping over every threshold of every fold."""
    issame = np.asarray(issame, dtype=bool)
    folds = list(KFold(n_splits=10, shuffle=False).split(np.arange(len(dist))))
    accuracies = np.zeros(len(folds))
    chosen = np.zeros(len(folds))
    for f, (train, test) in enumerate(folds):
        acc_train = np.array([accuracy_at(t, dist[train], issame[train]) for t in thresholds])
        best = int(np.argmax(acc_train))
        chosen[f] = thresholds[best]
        accuracies[f] = accuracy_at(thresholds[best], dist[test], issame[test])
    return accuracies, chosen


def pair_scores_gather(template_feats: np.ndarray, template_ids: np.ndarray, pairs: np.ndarray,
                       batch_size: int = 100_000) -> np.ndarray:
    """Cosine scores by gathering both rows and summing their product, batch by batch (numpy)."""
    row_of = np.zeros(int(np.max(template_ids)) + 1, dtype=np.int64)
    row_of[template_ids] = np.arange(len(template_ids))
    scores = np.empty(len(pairs), dtype=np.float32)
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start:start + batch_size]
        a = template_feats[row_of[batch[:, 0]]]
        b = template_feats[row_of[batch[:, 1]]]
        scores[start:start + batch_size] = np.sum(a * b, -1)
    return scores


def verification_bootstrap_loop(scores: np.ndarray, issame: np.ndarray, protocol: str,
                                weights: np.ndarray) -> np.ndarray:
    """[B] accuracy per replicate: pairs repeated by their (fold-stratified) draw counts, protocol re-run."""
    out = np.empty(len(weights))
    for b, w in enumerate(weights):
        idx = np.repeat(np.arange(len(scores)), w)
        if protocol == "10fold":
            out[b] = ten_fold_accuracy(scores[idx], issame[idx])[0].mean()
        else:
            out[b] = oracle_accuracy(scores[idx], issame[idx])[0]
    return out


def ijb_tar_bootstrap_loop(scores: np.ndarray, labels: np.ndarray, rows: np.ndarray, weights: np.ndarray,
                           fars: tuple[float, ...]) -> np.ndarray:
    """[B, F] TAR per replicate: each pair repeated w[a] * w[c] times (template draw counts), then the reference
    reading on the full ROC (every distinct score a point: sklearn's drop_intermediate=False)."""
    out = np.empty((len(weights), len(fars)))
    for b, w in enumerate(weights):
        idx = np.repeat(np.arange(len(scores)), w[rows[:, 0]] * w[rows[:, 1]])
        fpr, tpr, _ = roc_curve(labels[idx], scores[idx], drop_intermediate=False)
        tar = tar_on_roc(fpr, tpr, fars, n_impostors=int((labels[idx] == 0).sum()))
        out[b] = [tar[far] for far in fars]
    return out
