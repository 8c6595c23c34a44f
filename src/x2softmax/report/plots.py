"""The report's figures (matplotlib on Agg, seaborn styling); each function returns a Figure and draws nothing else."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def setup_style() -> None:
    """The report's plotting style (seaborn whitegrid, readable fonts)."""
    sns.set_theme(style="whitegrid", context="notebook", palette="tab10")


def _grid(n: int, ncols: int, size: tuple[float, float], **kwargs) -> tuple[Figure, np.ndarray]:
    """A figure with `n` panels in rows of `ncols` (spare panels hidden); axes flattened."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False, **kwargs)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def notice_figure(text: str) -> Figure:
    """A figure that states in words why there is nothing to plot (e.g. a part not run in this configuration)."""
    fig, ax = plt.subplots(figsize=(7, 1.6))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=11)
    return fig


def target_logit_figure(target_logits: pd.DataFrame) -> Figure:
    """f(θ) of every loss (left) and its cosine margin cos θ − f(θ) (right) against θ in degrees."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    sns.lineplot(target_logits, x="theta_deg", y="f", hue="loss", ax=left)
    theta = np.linspace(0, 180, 181)
    left.plot(theta, np.cos(np.deg2rad(theta)), color="black", ls=":", label="cos θ (no margin)")
    left.set(xlabel="θ between feature and its class weight (deg)", ylabel="target logit f(θ)", xlim=(0, 180))
    left.legend(fontsize=8)
    sns.lineplot(target_logits, x="theta_deg", y="cosine_margin", hue="loss", ax=right, legend=False)
    right.set(xlabel="θ (deg)", ylabel="cosine margin cos θ − f(θ)", xlim=(0, 180))
    fig.tight_layout()
    return fig


def angular_margin_figure(angular: pd.DataFrame) -> Figure:
    """Two-class angular margin (deg) against the angle between the class weights (deg), one line per loss."""
    fig, ax = plt.subplots(figsize=(8, 5))
    sns.lineplot(angular, x="theta_w_deg", y="margin_deg", hue="loss", ax=ax)
    ax.set(xlabel="angle θ_w between the two class weights (deg)", ylabel="angular margin between boundaries (deg)",
           xlim=(0, 180))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _ray(ax: plt.Axes, angle_deg: float, **kwargs) -> None:
    """A unit ray from the origin at `angle_deg` (counter-clockwise from the x axis)."""
    a = np.deg2rad(angle_deg)
    ax.plot([0, np.cos(a)], [0, np.sin(a)], **kwargs)


def decision_boundary_figure(boundaries: pd.DataFrame, theta_ws: Sequence[float]) -> Figure:
    """Per loss (rows) and inter-class angle (columns): the two weights and both decision boundaries on a circle."""
    losses = list(dict.fromkeys(boundaries["loss"]))
    fig, axes = plt.subplots(len(losses), len(theta_ws), figsize=(2.8 * len(theta_ws), 2.8 * len(losses)),
                             squeeze=False)
    circle = np.linspace(0, 2 * np.pi, 256)
    for i, loss in enumerate(losses):
        for j, theta_w in enumerate(theta_ws):
            ax = axes[i, j]
            ax.plot(np.cos(circle), np.sin(circle), color="0.7", lw=1)
            ax.set(aspect="equal", xlim=(-1.15, 1.15), ylim=(-1.15, 1.15), xticks=[], yticks=[])
            row = boundaries[(boundaries["loss"] == loss) & np.isclose(boundaries["theta_w_deg"], theta_w)]
            _ray(ax, 0, color="tab:blue", lw=2.5)
            _ray(ax, theta_w, color="tab:orange", lw=2.5)
            title = f"{loss}, θ_w = {theta_w:g}°"
            if row.empty or not np.isfinite(row[["boundary1_deg", "boundary2_deg"]].to_numpy()).all():
                ax.text(0, -0.5, "no boundary", ha="center", fontsize=9)
            else:
                b1, b2 = float(row["boundary1_deg"].iloc[0]), float(row["boundary2_deg"].iloc[0])
                _ray(ax, b1, color="tab:blue", ls="--", lw=1.2)
                _ray(ax, b2, color="tab:orange", ls="--", lw=1.2)
                lo, hi = sorted((b1, b2))
                wedge = np.deg2rad(np.linspace(lo, hi, 64))
                ax.fill(np.r_[0, np.cos(wedge)], np.r_[0, np.sin(wedge)], color="0.5", alpha=0.25)
                title += f"\nmargin {abs(b2 - b1):.1f}°"
            ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def x2_grid_figure(grid: pd.DataFrame, grid_margins: pd.DataFrame) -> Figure:
    """X2 target logit (top) and angular margin (bottom) while one of a, h, k varies (columns)."""
    params = list(dict.fromkeys(grid["param"]))
    fig, axes = plt.subplots(2, len(params), figsize=(4.5 * len(params), 8), squeeze=False)
    for j, param in enumerate(params):
        curves = grid[grid["param"] == param].assign(value=lambda d, p=param: d[p].map(lambda v: f"{p}={v:g}"))
        sns.lineplot(curves, x="theta_deg", y="f", hue="value", ax=axes[0, j], palette="viridis")
        axes[0, j].set(title=f"varying {param}", xlabel="θ (deg)", ylabel="f(θ)", xlim=(0, 180))
        margins = grid_margins[grid_margins["param"] == param].assign(
            value=lambda d, p=param: d[p].map(lambda v: f"{p}={v:g}"))
        sns.lineplot(margins, x="theta_w_deg", y="margin_deg", hue="value", ax=axes[1, j], palette="viridis",
                     legend=False)
        axes[1, j].set(xlabel="θ_w (deg)", ylabel="angular margin (deg)", xlim=(0, 180))
        axes[0, j].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _class_colours(n: int) -> list:
    """n distinct colours for class labels."""
    return sns.color_palette("tab10", n)


def toy_2d_figure(toys: Mapping[str, Mapping[str, np.ndarray]]) -> Figure:
    """Held-out 2-D unit features of each loss (panels), coloured by class, with the class centres as arrows."""
    fig, axes = _grid(len(toys), 3, (3.6, 3.6))
    circle = np.linspace(0, 2 * np.pi, 256)
    for ax, (loss, toy) in zip(axes, toys.items()):
        feats, labels, centres = toy["features"], toy["labels"], toy["centres"]
        colours = _class_colours(len(centres))
        radius = 1 + 0.04 * labels  # classes at slightly different radii so overlaps stay visible
        ax.plot(np.cos(circle), np.sin(circle), color="0.8", lw=1)
        ax.scatter(feats[:, 0] * radius, feats[:, 1] * radius, c=[colours[c] for c in labels], s=6, alpha=0.7)
        for c, (x, y) in enumerate(centres):
            ax.annotate("", xy=(x * 0.95, y * 0.95), xytext=(0, 0),
                        arrowprops={"arrowstyle": "->", "color": colours[c], "lw": 1.5})
        ax.set(aspect="equal", xlim=(-1.45, 1.45), ylim=(-1.45, 1.45), xticks=[], yticks=[], title=loss)
    fig.tight_layout()
    return fig


def lambert_azimuthal(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal-area (Lambert azimuthal) projection of unit 3-D points onto the disk of their own hemisphere.

    Returns x, y and a boolean `upper` (z ≥ 0); lower-hemisphere points are projected from the south pole, so each
    hemisphere fills a disk of radius √2 with areas preserved.
    """
    upper = points[:, 2] >= 0
    z = np.abs(points[:, 2])
    factor = np.sqrt(2.0 / (1.0 + z))
    return points[:, 0] * factor, points[:, 1] * factor, upper


def toy_3d_figure(toys: Mapping[str, Mapping[str, np.ndarray]]) -> Figure:
    """Held-out 3-D unit features of each loss as two equal-area disks (upper and lower hemisphere), with centres."""
    fig, axes = _grid(2 * len(toys), 6, (2.6, 2.8))
    circle = np.linspace(0, 2 * np.pi, 256)
    for k, (loss, toy) in enumerate(toys.items()):
        feats, labels, centres = toy["features"], toy["labels"], toy["centres"]
        colours = _class_colours(len(centres))
        fx, fy, fup = lambert_azimuthal(feats)
        cx, cy, cup = lambert_azimuthal(centres)
        for half, name in ((True, "upper"), (False, "lower")):
            ax = axes[2 * k + (0 if half else 1)]
            ax.plot(np.sqrt(2) * np.cos(circle), np.sqrt(2) * np.sin(circle), color="0.8", lw=1)
            sel = fup == half
            ax.scatter(fx[sel], fy[sel], c=[colours[c] for c in labels[sel]], s=5, alpha=0.7)
            csel = np.flatnonzero(cup == half)
            ax.scatter(cx[csel], cy[csel], c=[colours[c] for c in csel], marker="X", s=80, edgecolors="black")
            ax.set(aspect="equal", xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), xticks=[], yticks=[],
                   title=f"{loss} ({name})")
    fig.tight_layout()
    return fig


def verification_figure(long: pd.DataFrame) -> Figure:
    """Bars of accuracy (%) per benchmark and run, one panel per protocol (columns run, dataset, protocol, value)."""
    protocols = list(dict.fromkeys(long["protocol"]))
    fig, axes = _grid(len(protocols), 2, (7, 4.2))
    for ax, protocol in zip(axes, protocols):
        sns.barplot(long[long["protocol"] == protocol], x="dataset", y="value", hue="run", ax=ax)
        low = long["value"].min()
        ax.set(title=f"protocol: {protocol}", ylabel="accuracy (%)", xlabel="", ylim=(max(0, low - 5), 100))
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def roc_figure(rocs: Mapping[str, Mapping[str, pd.DataFrame]]) -> Figure:
    """ROC (TAR vs FAR, log-x) per suite (panels) and run (lines); `rocs[suite][run]` has columns far, tar."""
    fig, axes = _grid(len(rocs), 2, (6, 4.5))
    for ax, (suite, per_run) in zip(axes, rocs.items()):
        for run, roc in per_run.items():
            ax.plot(roc["far"], roc["tar"], label=run, lw=1.4)
        ax.set(xscale="log", xlim=(1e-6, 1), ylim=(0, 1.01), xlabel="FAR", ylabel="TAR", title=suite)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def similarity_figure(scores: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
                      overlaps: Mapping[tuple[str, str], float], bins: int = 100) -> Figure:
    """Genuine vs impostor score densities per suite (rows) and run (columns), titled with their overlap."""
    suites = list(scores)
    runs = list(dict.fromkeys(r for per_run in scores.values() for r in per_run))
    fig, axes = plt.subplots(len(suites), len(runs), figsize=(3.2 * len(runs), 2.8 * len(suites)), squeeze=False)
    for i, suite in enumerate(suites):
        for j, run in enumerate(runs):
            ax = axes[i, j]
            if run not in scores[suite]:
                ax.set_visible(False)
                continue
            values, labels = scores[suite][run]
            edges = np.linspace(-1, 1, bins + 1)
            ax.hist(values[labels == 0], bins=edges, density=True, alpha=0.55, label="impostor", color="tab:red")
            ax.hist(values[labels == 1], bins=edges, density=True, alpha=0.55, label="genuine", color="tab:green")
            ax.set(title=f"{suite} {run}\noverlap {overlaps[(suite, run)]:.3f}", xlabel="cosine similarity")
            ax.title.set_fontsize(9)
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def training_curves_figure(curves: pd.DataFrame, columns: Sequence[str] = ("loss", "acc", "lr")) -> Figure:
    """Training metrics against the step, one panel per metric, one line per run."""
    present = [c for c in columns if c in curves.columns]
    fig, axes = _grid(len(present), 3, (5, 3.8))
    for ax, column in zip(axes, present):
        sns.lineplot(curves, x="step", y=column, hue="run", ax=ax, legend=column == present[0])
        if column == "lr":
            ax.set_yscale("log")
        ax.set(title=column, xlabel="step")
    fig.tight_layout()
    return fig


def nearest_angle_figure(frames: Mapping[str, pd.DataFrame]) -> Figure:
    """Distribution of the angle from each class centre to its nearest other centre, one line per run."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for run, frame in frames.items():
        sns.histplot(frame["nearest_angle_deg"], ax=ax, label=run, element="step", fill=False, stat="density")
    ax.axvline(90, color="0.4", ls=":", lw=1)
    ax.set(xlabel="angle to the nearest other class centre (deg)", ylabel="density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def realised_margin_figure(frames: Mapping[str, pd.DataFrame]) -> Figure:
    """Margin each run's loss realises at its trained nearest-centre angles (runs without one are listed)."""
    usable = {run: f for run, f in frames.items() if f["margin_deg"].notna().any()}
    if not usable:
        return notice_figure("No run has a loss with a fixed two-class margin.")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for run, frame in usable.items():
        order = frame.sort_values("nearest_angle_deg")
        left.plot(order["nearest_angle_deg"], order["margin_deg"], label=run, lw=1.5)
        # rounded: a constant margin solved per angle differs by ~1e-14 deg, too narrow a range for numpy's bins
        margins = frame["margin_deg"].dropna().round(9)
        sns.histplot(margins, ax=right, label=run, element="step", fill=False, stat="density")
    left.set(xlabel="nearest-centre angle (deg)", ylabel="realised margin (deg)")
    right.set(xlabel="realised margin (deg)", ylabel="density")
    left.legend(fontsize=8)
    fig.tight_layout()
    return fig


def angle_vs_count_figure(frames: Mapping[str, pd.DataFrame]) -> Figure:
    """Scatter of nearest-centre angle against class size, one panel per run."""
    fig, axes = _grid(len(frames), 3, (4.2, 3.6))
    for ax, (run, frame) in zip(axes, frames.items()):
        ax.scatter(frame["count"], frame["nearest_angle_deg"], s=4, alpha=0.5, rasterized=True)
        ax.set(xscale="log" if frame["count"].min() > 0 else "linear", title=run,
               xlabel="training images of the class", ylabel="nearest-centre angle (deg)")
    fig.tight_layout()
    return fig
