"""scikit-learn's `roc_curve` and L2 `normalize`, transcribed so that an evaluation job need not import scikit-learn.

Importing scikit-learn (and the SciPy modules it pulls in) costs about 2.2 s per process, paid by each of the
embedded default's 23 evaluation jobs for two small functions. Both follow scikit-learn 1.9's code path for dense
numpy input step by step (the reference evaluation scripts call scikit-learn itself), and the tests compare them with
scikit-learn's functions for exact equality, ties and zero rows included.

The reading of TAR at a target FAR from an ROC (the reference rule, `tar_on_roc`) lives here too, beside the ROC:
the uncertainty job and the report pages use it without importing torch (x2softmax.evaluate.ijb embeds images).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from x2softmax.vocabulary import FARS


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


def tar_at_far(scores: np.ndarray, labels: np.ndarray, fars: Sequence[float] = FARS) -> dict[float, float]:
    """TAR (fraction) at each target FAR read as the reference does (see tar_on_roc); NaN where not measurable."""
    fpr, tpr, _ = roc(scores, labels)
    return tar_on_roc(fpr, tpr, fars, n_impostors=int(np.sum(np.asarray(labels) == 0)))


def lowest_measurable_far(n_impostors: int) -> float:
    """The lowest FAR a set of `n_impostors` impostor pairs can measure: one false accept, 1 / n_impostors."""
    if n_impostors < 1:
        raise ValueError(f"a FAR needs at least one impostor pair, got {n_impostors}")
    return 1.0 / n_impostors


def not_measurable_reason(far: float, n_impostors: int) -> str:
    """Why `far` cannot be measured with `n_impostors` impostor pairs (the note of a missing cell)."""
    return f"not measurable: FAR {far:.0e} < 1/{n_impostors} impostor pairs ({lowest_measurable_far(n_impostors):.2e})"


def tar_on_roc(fpr: np.ndarray, tpr: np.ndarray, fars: Sequence[float] = FARS, *,
               n_impostors: int) -> dict[float, float]:
    """TAR at each target FAR, the reference rule: reverse the ROC (np.flipud), take the first point whose FPR is
    nearest the target, i.e. the highest TPR among points at that FPR; NaN for a FAR below 1 / n_impostors."""
    floor = lowest_measurable_far(n_impostors)
    tar = tar_on_rocs(np.asarray(fpr)[None], np.asarray(tpr)[None], fars)[0]
    return {float(far): float(value) if far >= floor else float("nan") for far, value in zip(fars, tar)}


def tar_on_rocs(fpr: np.ndarray, tpr: np.ndarray, fars: Sequence[float]) -> np.ndarray:
    """[B, F] TAR at each target FAR from B ROCs [B, K] (FPR ascending along K) by the reference rule of tar_on_roc:
    on the reversed ROC the first point whose FPR is nearest the target."""
    fpr_rev, tpr_rev = fpr[:, ::-1], tpr[:, ::-1]
    out = np.empty((len(fpr), len(fars)))
    for j, far in enumerate(fars):
        pick = np.argmin(np.abs(fpr_rev - far), axis=1)
        out[:, j] = np.take_along_axis(tpr_rev, pick[:, None], axis=1)[:, 0]
    return out


def roc(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sklearn ROC (fpr, tpr, thresholds) of genuine (1) vs impostor (0) scores, with a check of the labels."""
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError(f"scores and labels must be two [M] arrays, got {scores.shape} and {labels.shape}")
    if not np.isin(labels, (0, 1)).all() or labels.min(initial=1) == labels.max(initial=0):
        raise ValueError("labels must be 0/1 with both genuine (1) and impostor (0) pairs present")
    return roc_curve(labels, scores)


def subsample_roc(fpr: np.ndarray, tpr: np.ndarray, n_points: int = 1000) -> dict[str, list[float]]:
    """ROC points at log-spaced FPRs (plus both ends) for storage and plotting."""
    grid = np.searchsorted(fpr, np.logspace(-8, 0, n_points)).clip(0, len(fpr) - 1)
    keep = np.unique(np.concatenate([[0, len(fpr) - 1], grid]))
    return {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()}
