"""scikit-learn's `roc_curve` and L2 `normalize`, transcribed so that an evaluation job need not import scikit-learn.

Importing scikit-learn (and the SciPy modules it pulls in) costs about 2.2 s per process, paid by each of the
embedded default's 23 evaluation jobs for two small functions. Both follow scikit-learn 1.9's code path for dense
numpy input step by step (the reference evaluation scripts call scikit-learn itself), and the tests compare them with
scikit-learn's functions for exact equality, ties and zero rows included.
"""

from __future__ import annotations

import numpy as np


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm in their own float dtype, as `sklearn.preprocessing.normalize(x)`; rows whose norm
    is below 10·eps are left as they are (scikit-learn's `_handle_zeros_in_scale`)."""
    x = np.asarray(x)
    x = x.astype(x.dtype if x.dtype.kind == "f" else np.float64, copy=True)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array of row vectors, got shape {x.shape}")
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    norms[norms < 10 * np.finfo(norms.dtype).eps] = 1.0
    x /= norms[:, None]
    return x


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) of `sklearn.metrics.roc_curve(labels, scores)`: positive label 1, collinear
    intermediate points dropped, a first point (0, 0) at threshold +inf. Both classes must be present."""
    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(scores).reshape(-1)
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores differ in length: {labels.shape[0]} and {scores.shape[0]}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    order = np.argsort(-scores if scores.dtype.kind == "f" else scores.max() - scores, kind="stable")
    sorted_scores = scores[order]
    positive = (labels[order] == 1).astype(np.float64)
    ends = np.concatenate([np.nonzero(np.diff(sorted_scores))[0], [scores.size - 1]])  # last index of each score
    tps = np.cumsum(positive, dtype=np.float64)[ends]
    fps = 1 + ends.astype(np.float64) - tps
    thresholds = sorted_scores[ends]
    if fps.shape[0] > 2:  # keep the corners only: drop points collinear with their neighbours
        keep = np.nonzero(np.concatenate([[True], np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), [True]]))[0]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    tps = np.concatenate([[0.0], tps])
    fps = np.concatenate([[0.0], fps])
    thresholds = np.concatenate([[np.inf], thresholds.astype(np.float64)])
    if fps[-1] <= 0 or tps[-1] <= 0:
        raise ValueError("labels must hold both positives (1) and negatives (0)")
    return fps / fps[-1], tps / tps[-1], thresholds
