"""Angles between class centres, class compactness, and the margins a loss realises at the trained angles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from x2softmax.losses import NoFixedTargetError

# Upper bound on the number of cosine entries held at once by `nearest_centre_angles` (float32: 128 MiB).
_CHUNK_ELEMENTS = 32 * 1024 * 1024
# Angles are rounded to this resolution (degrees) before solving the two-class margin once per distinct angle.
MARGIN_RESOLUTION_DEG = 0.01


def _unit_rows(matrix: np.ndarray, what: str) -> np.ndarray:
    """Rows of a 2-D array scaled to unit L2 norm (float64); a clear error for bad shapes or zero rows."""
    arr = np.asarray(matrix, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty 2-D array [rows, dim], got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or Inf")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"{what} has {int(np.sum(norms == 0))} all-zero row(s); they have no direction")
    return arr / norms


def nearest_centre_angles(
    weight: np.ndarray, *, return_index: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Angle (radians) from each class centre to its nearest other centre; optionally also that centre's index."""
    centres = _unit_rows(weight, "weight").astype(np.float32)
    n = centres.shape[0]
    if n < 2:
        raise ValueError(f"weight needs at least 2 class centres to measure angles between them, got {n}")
    best_cos = np.empty(n, dtype=np.float32)
    best_idx = np.empty(n, dtype=np.int64)
    rows = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        cos = centres[start:stop] @ centres.T
        cos[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        idx = np.argmax(cos, axis=1)
        best_idx[start:stop] = idx
        best_cos[start:stop] = cos[np.arange(stop - start), idx]
    angles = np.arccos(np.clip(best_cos.astype(np.float64), -1.0, 1.0))
    return (angles, best_idx) if return_index else angles


def realised_margins(theta_w: np.ndarray, loss_name: str, hparams: Mapping[str, Any]) -> np.ndarray:
    """Two-class angular margin (radians) of a loss at each inter-centre angle (radians), solved per distinct angle."""
    from x2softmax.analysis.margins import angular_margin

    theta = np.asarray(theta_w, dtype=np.float64)
    step = np.deg2rad(MARGIN_RESOLUTION_DEG)
    distinct, inverse = np.unique(np.round(theta / step).astype(np.int64), return_inverse=True)
    margins = np.asarray(angular_margin(loss_name, distinct * step, **dict(hparams)), dtype=np.float64)
    return margins[inverse].reshape(theta.shape)


def class_geometry(
    weight: np.ndarray, counts: np.ndarray | None, loss_name: str, hparams: Mapping[str, Any]
) -> pd.DataFrame:
    """Per class: nearest other centre, the angle to it, the class size and the margin the loss realises there.

    `counts[c]` is the number of training images of class c (None: unknown). Losses without a fixed target logit
    (adaptive ones) get NaN margins, and the reason is kept in `df.attrs["margin_note"]`.
    """
    angles, nearest = nearest_centre_angles(weight, return_index=True)
    n = angles.shape[0]
    frame = pd.DataFrame(
        {
            "class_id": np.arange(n),
            "nearest_class": nearest,
            "nearest_angle_deg": np.rad2deg(angles),
        }
    )
    if counts is None:
        frame["count"] = np.nan
    else:
        counts_arr = np.asarray(counts)
        if counts_arr.shape != (n,):
            raise ValueError(f"counts has shape {counts_arr.shape}, expected ({n},): one count per class centre")
        frame["count"] = counts_arr
    note = ""
    try:
        frame["margin_deg"] = np.rad2deg(realised_margins(angles, loss_name, hparams))
    except NoFixedTargetError as err:  # its message already names the loss and why
        frame["margin_deg"] = np.nan
        note = str(err)
    except ValueError as err:
        frame["margin_deg"] = np.nan
        note = f"{loss_name}: no fixed two-class margin ({err})"
    frame.attrs["margin_note"] = note
    return frame


def kept_margins(features: np.ndarray, labels: np.ndarray, weight: np.ndarray, quantile: float = 0.0) -> pd.DataFrame:
    """Per class with features: its nearest other centre, the angle between their weights and the margin its trained
    features keep, the `quantile` (0: smallest) of their angles to the bisecting boundary with that class (degrees;
    negative: on the other class's side)."""
    centres, feats = _unit_rows(weight, "weight"), _unit_rows(features, "features")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (feats.shape[0],) or labels.min() < 0 or labels.max() >= centres.shape[0]:
        raise ValueError(f"labels must be {feats.shape[0]} class ids in [0, {centres.shape[0]}), got shape "
                         f"{labels.shape}")
    angles, nearest = nearest_centre_angles(centres, return_index=True)
    normal = centres - centres[nearest]  # the bisector of w_c and w_j has normal w_c - w_j (unit centres)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    to_boundary = np.rad2deg(np.arcsin(np.clip(np.einsum("nd,nd->n", feats, normal[labels]), -1.0, 1.0)))
    classes = np.unique(labels)
    kept = [float(np.quantile(to_boundary[labels == c], quantile)) for c in classes]
    return pd.DataFrame({"class_id": classes, "nearest_class": nearest[classes],
                         "weight_angle_deg": np.rad2deg(angles[classes]), "kept_margin_deg": kept})


def compactness_table(features: np.ndarray, labels: np.ndarray, centres: np.ndarray) -> dict[str, float]:
    """Intra-class compactness and inter-class separation of embeddings around given class centres (degrees)."""
    feats = _unit_rows(features, "features")
    cents = _unit_rows(centres, "centres")
    labs = np.asarray(labels)
    if labs.shape != (feats.shape[0],):
        raise ValueError(f"labels has shape {labs.shape}, expected ({feats.shape[0]},)")
    if feats.shape[1] != cents.shape[1]:
        raise ValueError(f"features are {feats.shape[1]}-D but centres are {cents.shape[1]}-D")
    if labs.min() < 0 or labs.max() >= cents.shape[0]:
        raise ValueError(f"labels must lie in [0, {cents.shape[0] - 1}], got [{labs.min()}, {labs.max()}]")
    cos = feats @ cents.T
    to_own = np.rad2deg(np.arccos(np.clip(cos[np.arange(len(labs)), labs], -1.0, 1.0)))
    return {
        "n": int(len(labs)),
        "mean_angle_to_centre_deg": float(to_own.mean()),
        "max_angle_to_centre_deg": float(to_own.max()),
        "min_centre_angle_deg": float(np.rad2deg(nearest_centre_angles(cents).min())),
        "nearest_centre_accuracy": float(np.mean(np.argmax(cos, axis=1) == labs)),
    }


def overlap_coefficient(genuine: np.ndarray, impostor: np.ndarray, bins: int | np.ndarray = 200) -> float:
    """Overlap of the two score histograms on shared bins: sum of the bin-wise minimum of both probabilities."""
    gen = np.asarray(genuine, dtype=np.float64).ravel()
    imp = np.asarray(impostor, dtype=np.float64).ravel()
    if gen.size == 0 or imp.size == 0:
        raise ValueError(f"overlap needs both score sets non-empty, got {gen.size} genuine and {imp.size} impostor")
    if isinstance(bins, (int, np.integer)):
        lo = min(gen.min(), imp.min())
        hi = max(gen.max(), imp.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64)
    p_gen = np.histogram(gen, bins=edges)[0] / gen.size
    p_imp = np.histogram(imp, bins=edges)[0] / imp.size
    return float(np.minimum(p_gen, p_imp).sum())
