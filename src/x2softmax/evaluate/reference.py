"""Straightforward implementations the fast ones are checked and benchmarked against.

They follow insightface line by line (eval/verification.py ``calculate_roc``: a loop over the 400 thresholds per
fold; eval_ijbc.py ``verification``: gather both template rows and take the row-wise dot, 100,000 pairs a batch).
They are slow on purpose: tests compare results, bench/evaluation.py compares speed.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import KFold

from x2softmax.evaluate.verification import ACCURACY_THRESHOLDS


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
