"""Target logits, cosine and angular margins, and two-class decision boundaries of the margin losses.

Each loss's target logit f(θ) comes from the loss module itself (`MarginLoss.fixed_target`, evaluated in float64
without autograd), so the analysis and training share one formula. Angles are in radians in and out.

Two-class geometry (docs/losses.md): on the great circle through W1 and W2 (θ_w apart), a point at signed angle φ
from W1 (positive towards W2) is θ_w − φ from W2. The class-1 boundary facing W2 is the root of
f(|φ|) = cos(θ_w − φ) nearest to W2 on φ ∈ [θ_w − π, θ_w] (it may lie behind W1, φ < 0); class 2's boundary is
its mirror image at θ_w − φ, and the angular margin is the angle between the two, θ_w − 2φ. NaN: no boundary.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from x2softmax.io import atomic_write_text
from x2softmax.losses import SUBJECT, NoFixedTargetError, build_loss, default_hparams
from x2softmax.vocabulary import MARGIN_TABLES

log = logging.getLogger(__name__)

BOUNDARY_GRID = 4097
BISECTION_STEPS = 60
X2_GRID: dict[str, tuple[float, ...]] = {
    "a": (-0.3, -0.6, -0.9, -1.2, -1.5),
    "h": (-0.6, -0.4, -0.2, 0.0),
    "k": (0.35, 0.5, 0.65, 0.8, 0.95),
}
BOUNDARY_THETA_W_DEG = (45, 90, 135)


def _angles(values: object, what: str) -> np.ndarray:
    """Angles as a float64 array, checked to be finite and in [0, π]."""
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0.0) or np.any(arr > math.pi + 1e-12):
        raise ValueError(f"{what} must be finite angles in radians within [0, π]")
    return np.clip(arr, 0.0, math.pi)


def target_function(name: str, **hparams: Any) -> Callable[[np.ndarray], np.ndarray]:
    """f(θ) of loss `name` as a vectorised numpy function of θ (radians); adaptive losses raise ValueError."""
    loss = build_loss(name, **hparams).eval()
    loss.fixed_target(torch.zeros(1, dtype=torch.float64))  # raises NoFixedTargetError now for adaptive losses

    def f(theta: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            cos = torch.from_numpy(np.cos(np.asarray(theta, dtype=np.float64)))
            return loss.fixed_target(cos).numpy()

    return f


def target_logit(name: str, theta: object, **hparams: Any) -> np.ndarray:
    """Normalised, unscaled target logit f(θ) of loss `name` at angles `theta` (radians)."""
    return target_function(name, **hparams)(_angles(theta, "theta"))


def cosine_margin(name: str, theta: object, **hparams: Any) -> np.ndarray:
    """Cosine-space margin cos θ − f(θ) at angles `theta` (radians)."""
    angles = _angles(theta, "theta")
    return np.cos(angles) - target_function(name, **hparams)(angles)


def _class1_boundary(f: Callable[[np.ndarray], np.ndarray], theta_w: np.ndarray) -> np.ndarray:
    """Signed position φ (radians from W1 towards W2) of class 1's boundary facing W2; NaN where none exists."""
    flat = theta_w.reshape(-1)
    u = np.linspace(0.0, 1.0, BOUNDARY_GRID)
    phi = flat[:, None] - math.pi * u[None, :]
    gap = f(np.abs(phi)) - np.cos(math.pi * u)[None, :]
    inside = gap >= 0.0
    found = inside.any(axis=1) & (flat > 0.0)
    first = np.argmax(inside, axis=1)
    rows = np.nonzero(found)[0]
    out = np.full(flat.shape, np.nan)
    if rows.size == 0:
        return out.reshape(theta_w.shape)
    tw = flat[rows]
    lo = phi[rows, first[rows]]
    hi = phi[rows, np.maximum(first[rows] - 1, 0)]
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        ok = f(np.abs(mid)) - np.cos(tw - mid) >= 0.0
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    out[rows] = 0.5 * (lo + hi)
    return out.reshape(theta_w.shape)


def decision_boundaries(name: str, theta_w: object, **hparams: Any) -> dict[str, np.ndarray]:
    """Boundary angles (radians from W1 along the great circle to W2) of both classes for weight angles `theta_w`.

    Returns {"theta_w", "boundary1", "boundary2"}; boundary1 may be negative (behind W1); NaN where none exists.
    """
    tw = _angles(theta_w, "theta_w")
    b1 = _class1_boundary(target_function(name, **hparams), tw)
    return {"theta_w": tw, "boundary1": b1, "boundary2": tw - b1}


def angular_margin(name: str, theta_w: object, **hparams: Any) -> np.ndarray:
    """Two-class angular margin (radians) between the decision boundaries for weight angles `theta_w`; NaN: none."""
    bounds = decision_boundaries(name, theta_w, **hparams)
    return bounds["boundary2"] - bounds["boundary1"]


def _target_rows(display: str, name: str, hparams: Mapping[str, Any], theta_deg: np.ndarray) -> pd.DataFrame:
    """Rows of target_logits.csv for one loss."""
    theta = np.deg2rad(theta_deg)
    f = target_logit(name, theta, **hparams)
    return pd.DataFrame({"loss": display, "theta_deg": theta_deg, "f": f, "cosine_margin": np.cos(theta) - f})


def _x2_grid(base: Mapping[str, Any], grid: Mapping[str, Sequence[float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """X2 curves and angular margins with each of a, h, k varied around `base`, the others held."""
    theta_deg = np.arange(0, 181, dtype=np.float64)
    theta_w_deg = np.arange(1, 181, dtype=np.float64)
    curves, margins = [], []
    for param, values in grid.items():
        if param not in ("a", "h", "k"):
            raise ValueError(f"x2 grid: unknown parameter {param!r} (expected a, h or k)")
        for value in values:
            hp = {**base, param: float(value)}
            abc = {"param": param, "a": hp["a"], "h": hp["h"], "k": hp["k"]}
            f = target_logit(SUBJECT, np.deg2rad(theta_deg), **hp)
            curves.append(pd.DataFrame({**abc, "theta_deg": theta_deg, "f": f,
                                        "cosine_margin": np.cos(np.deg2rad(theta_deg)) - f}))
            margin = angular_margin(SUBJECT, np.deg2rad(theta_w_deg), **hp)
            margins.append(pd.DataFrame({**abc, "theta_w_deg": theta_w_deg, "margin_deg": np.rad2deg(margin)}))
    return pd.concat(curves, ignore_index=True), pd.concat(margins, ignore_index=True)


def write_margin_tables(
    losses: dict[str, dict],
    out_dir: Path,
    x2_grid: Mapping[str, Sequence[float]] | None = None,
) -> list[Path]:
    """Write the MARGIN_TABLES (target_logits, angular_margins, x2_grid, x2_grid_margins, boundaries) as CSVs.

    `losses` maps display name → {"name": registry name, "hparams": {...}}. Losses without a fixed target logit
    are skipped and named in a logged warning. `x2_grid` overrides the a/h/k values varied (default X2_GRID)
    around the X2 defaults. Returns the written paths.
    """
    out = Path(out_dir)
    theta_deg = np.arange(0, 181, dtype=np.float64)
    theta_w_deg = np.arange(1, 181, dtype=np.float64)
    targets, angular, bounds, skipped = [], [], [], []
    for display, spec in losses.items():
        if not isinstance(spec, Mapping) or "name" not in spec:
            raise ValueError(f"margin tables: entry {display!r} must be a mapping with a 'name' (and 'hparams')")
        name, hparams = spec["name"], dict(spec.get("hparams") or {})
        try:
            targets.append(_target_rows(display, name, hparams, theta_deg))
        except NoFixedTargetError:
            skipped.append(display)
            continue
        margin = angular_margin(name, np.deg2rad(theta_w_deg), **hparams)
        angular.append(pd.DataFrame({"loss": display, "theta_w_deg": theta_w_deg, "margin_deg": np.rad2deg(margin)}))
        sel = np.array(BOUNDARY_THETA_W_DEG, dtype=np.float64)
        b = decision_boundaries(name, np.deg2rad(sel), **hparams)
        bounds.append(pd.DataFrame({"loss": display, "theta_w_deg": sel, "boundary1_deg": np.rad2deg(b["boundary1"]),
                                    "boundary2_deg": np.rad2deg(b["boundary2"])}))
    if skipped:
        log.warning("margin tables: skipped losses without a fixed target logit: %s", ", ".join(skipped))
    if not targets:
        raise ValueError("margin tables: no loss with a fixed target logit was given")
    curves, grid_margins = _x2_grid(default_hparams(SUBJECT), X2_GRID if x2_grid is None else x2_grid)
    frames = {
        "target_logits": pd.concat(targets, ignore_index=True),
        "angular_margins": pd.concat(angular, ignore_index=True),
        "x2_grid": curves,
        "x2_grid_margins": grid_margins,
        "boundaries": pd.concat(bounds, ignore_index=True),
    }
    written = []
    for name in MARGIN_TABLES:
        path, frame = out / f"{name}.csv", frames[name]
        atomic_write_text(path, frame.to_csv(index=False, float_format="%.6f"))
        written.append(path)
    return written
