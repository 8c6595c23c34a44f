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

from x2softmax.report.palette import merged_label, series_styles  # noqa: E402
from x2softmax.vocabulary import FARS  # noqa: E402


def setup_style() -> None:
    """The report's plotting style (seaborn whitegrid, readable fonts)."""
    sns.set_theme(style="whitegrid", context="notebook", palette="tab10")


def panel_grid(n: int, ncols: int, size: tuple[float, float], **kwargs) -> tuple[Figure, np.ndarray]:
    """A figure with `n` panels in rows of `ncols` (spare panels hidden); axes flattened."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False, **kwargs)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def near_identical(y1: np.ndarray, y2: np.ndarray, scale: float, tol: float = 0.01) -> bool:
    """Whether two series on the same x grid are drawn on top of each other: the same missing points and every
    difference within `tol` of the axis scale."""
    a, b = np.asarray(y1, dtype=np.float64), np.asarray(y2, dtype=np.float64)
    if a.shape != b.shape or not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return False
    both = np.isfinite(a)
    return bool(both.any()) and float(np.max(np.abs(a[both] - b[both]))) <= tol * max(scale, 1e-12)


def merge_identical(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], tol: float = 0.01
                    ) -> list[tuple[list[str], np.ndarray, np.ndarray]]:
    """Group series (label → (x, y)) that would hide each other; each group is drawn once, labelled with all its
    members ("ArcFace ≈ ElasticFace-Arc+": equal within the tolerance, not exactly)."""
    finite = [y[np.isfinite(y)] for _, y in curves.values()]
    finite = [v for v in finite if v.size]
    scale = float(np.ptp(np.concatenate(finite))) if finite else 1.0
    groups: list[tuple[list[str], np.ndarray, np.ndarray]] = []
    for label, (x, y) in curves.items():
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        for members, gx, gy in groups:
            if gx.shape == x.shape and np.allclose(gx, x) and near_identical(gy, y, scale, tol):
                members.append(label)
                break
        else:
            groups.append(([label], x, y))
    return groups


def draw_series(ax: plt.Axes, curves: Mapping[str, tuple[np.ndarray, np.ndarray]], legend: bool = True,
                tol: float = 0.01, markers: int = 9) -> list[list[str]]:
    """Draw every series distinguishably: near-identical ones merged into one labelled line, the others with their
    own colour, line style and a few markers; returns the groups drawn."""
    groups = merge_identical(curves, tol)
    styles = series_styles([merged_label(m) for m, _, _ in groups])
    for members, x, y in groups:
        label = merged_label(members)
        style = styles[label]
        every = max(1, len(x) // markers)
        ax.plot(x, y, label=label, color=style["color"], ls=style["ls"], marker=style["marker"], markevery=every,
                markersize=style["ms"], lw=style["lw"], zorder=style["zorder"])
    if legend:
        ax.legend(fontsize=8)
    return [m for m, _, _ in groups]


def is_degenerate(values: np.ndarray, rel: float = 1e-9) -> bool:
    """Whether a sample is (numerically) constant, so that it has no density to draw."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return v.size > 0 and float(np.ptp(v)) <= rel * max(1.0, float(np.abs(v).max()))


def draw_density(ax: plt.Axes, values: np.ndarray, label: str, style: Mapping[str, object],
                 bins: int | np.ndarray = 30) -> None:
    """A step density of a sample (on shared bin edges when given, so heights compare); a constant sample is drawn as
    what it is, a marked vertical line at its value (it does not take part in the y scaling)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return
    if is_degenerate(v):
        value = 0.0 if abs(float(v[0])) < 0.05 else float(v[0])  # never "-0.0"
        ax.axvline(value, color=style["color"], ls=style["ls"], lw=style["lw"] + 0.3, label=f"{label}: constant {value:.1f}")
        ax.plot([value], [0.97], marker=style["marker"], color=style["color"], transform=ax.get_xaxis_transform(),
                clip_on=False, ms=7)
        return
    density, edges = np.histogram(v, bins=bins, density=True)
    ax.stairs(density, edges, color=style["color"], ls=style["ls"], lw=style["lw"], label=label, zorder=style["zorder"])


def outside_legend(fig: Figure, ax: plt.Axes, ncol: int = 1, title: str | None = None, below: bool = False) -> None:
    """One legend for the figure (the entries of `ax`), to the right of the panels or below them (never over the
    data); the panels' own legends are removed."""
    handles, labels = ax.get_legend_handles_labels()
    for panel in fig.axes:
        if panel.get_legend() is not None:
            panel.get_legend().remove()
    where = {"loc": "upper center", "bbox_to_anchor": (0.5, 0.0)} if below else {
        "loc": "center left", "bbox_to_anchor": (1.0, 0.5)}
    fig.legend(handles, labels, fontsize=9, ncol=ncol, title=title, frameon=False, **where)


def notice_figure(text: str) -> Figure:
    """A figure that states in words why there is nothing to plot (e.g. a part not run in this configuration)."""
    fig, ax = plt.subplots(figsize=(7, 1.6))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=11)
    return fig


def _curves(frame: pd.DataFrame, x: str, y: str, by: str = "loss") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """label → (x, y) arrays of a long frame, labels in order of appearance."""
    return {str(k): (g[x].to_numpy(), g[y].to_numpy()) for k, g in frame.groupby(by, sort=False)}


def target_logit_figure(target_logits: pd.DataFrame) -> Figure:
    """f(θ) of every loss (left) and its cosine margin cos θ − f(θ) (right) against θ in degrees."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    groups = draw_series(left, _curves(target_logits, "theta_deg", "f"), legend=False)
    theta = np.linspace(0, 180, 181)
    left.plot(theta, np.cos(np.deg2rad(theta)), color="black", ls=":", lw=1.2, label="cos θ (no margin)")
    left.set(xlabel="θ between feature and its class weight (deg)", ylabel="target logit f(θ)", xlim=(0, 180))
    margins = _curves(target_logits, "theta_deg", "cosine_margin")  # the same groups, so colours match the legend
    draw_series(right, {merged_label(m): margins[m[0]] for m in groups}, legend=False, tol=0.0)
    right.set(xlabel="θ (deg)", ylabel="cosine margin cos θ − f(θ)", xlim=(0, 180))
    fig.tight_layout()
    outside_legend(fig, left)
    return fig


MARGIN_AXIS_MAX_DEG = 180


def angular_margin_figure(angular: pd.DataFrame) -> Figure:
    """Two-class angular margin (deg) against the angle between the class weights (deg), one line per loss."""
    fig, ax = plt.subplots(figsize=(9, 5))
    draw_series(ax, _curves(angular, "theta_w_deg", "margin_deg"), legend=False)
    ax.set(xlabel="angle θ_w between the two class weights (deg)", ylabel="angular margin between boundaries (deg)",
           xlim=(0, 180))
    wrapped = angular[angular["margin_deg"] > MARGIN_AXIS_MAX_DEG]
    if len(wrapped):  # a "margin" wider than the half circle: the class wins only near its antipode
        ax.set_ylim(0, MARGIN_AXIS_MAX_DEG)
        spans = [f"{loss} for θ_w ≤ {rows['theta_w_deg'].max():g}°" for loss, rows in wrapped.groupby("loss", sort=False)]
        ax.text(0.98, 0.97, f"off scale (> {MARGIN_AXIS_MAX_DEG}°, the class wins only near its antipode):\n"
                + "\n".join(spans), transform=ax.transAxes, ha="right", va="top", fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "0.7"})
    fig.tight_layout()
    outside_legend(fig, ax)
    return fig


def _ray(ax: plt.Axes, angle_deg: float, **kwargs) -> None:
    """A unit ray from the origin at `angle_deg` (counter-clockwise from the x axis)."""
    a = np.deg2rad(angle_deg)
    ax.plot([0, np.cos(a)], [0, np.sin(a)], **kwargs)


def decision_boundary_figure(boundaries: pd.DataFrame, theta_ws: Sequence[float]) -> Figure:
    """Per loss and inter-class angle (panels, several losses in a row): both weights and boundaries on a circle."""
    losses = list(dict.fromkeys(boundaries["loss"]))
    per_row = 3 * len(theta_ws) if len(theta_ws) <= 2 else len(theta_ws)  # whole losses per row, page-wide
    fig, axes = panel_grid(len(losses) * len(theta_ws), per_row, (2.3, 2.5))
    circle = np.linspace(0, 2 * np.pi, 256)
    for i, loss in enumerate(losses):
        for j, theta_w in enumerate(theta_ws):
            ax = axes[i * len(theta_ws) + j]
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
    """X2 target logit (top) and angular margin (bottom) while one of a, h, k varies (columns); settings whose
    curves coincide share one labelled line."""
    params = list(dict.fromkeys(grid["param"]))
    fig, axes = plt.subplots(2, len(params), figsize=(4.5 * len(params), 8), squeeze=False)
    for j, param in enumerate(params):
        def label(frame: pd.DataFrame, p: str = param) -> pd.DataFrame:
            return frame[frame["param"] == p].assign(value=lambda d: d[p].map(lambda v: f"{p}={v:g}"))

        draw_series(axes[0, j], _curves(label(grid), "theta_deg", "f", by="value"), legend=True)
        axes[0, j].set(title=f"varying {param}", xlabel="θ (deg)", ylabel="f(θ)", xlim=(0, 180))
        draw_series(axes[1, j], _curves(label(grid_margins), "theta_w_deg", "margin_deg", by="value"), legend=True)
        axes[1, j].set(xlabel="θ_w (deg)", ylabel="angular margin (deg)", xlim=(0, 180))
    fig.tight_layout()
    return fig


def _class_colours(n: int) -> list:
    """n distinct colours for class labels."""
    return sns.color_palette("tab10", n)


def toy_2d_figure(toys: Mapping[str, Mapping[str, np.ndarray]]) -> Figure:
    """Held-out 2-D unit features of each loss (panels), coloured by class, with the class centres as arrows."""
    fig, axes = panel_grid(len(toys), 3, (3.6, 3.6))
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
    fig, axes = panel_grid(2 * len(toys), 6, (2.6, 2.8))
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


def _palette(runs: Sequence[str]) -> dict[str, object]:
    """run → colour, fixed by the run order (so one page's figures agree)."""
    return {run: style["color"] for run, style in series_styles(runs).items()}


CHANCE_ACCURACY_PCT = 50.0  # balanced genuine/impostor pairs: a bar axis starts here (or at 0), never at the data


def verification_figure(long: pd.DataFrame, runs: Sequence[str] | None = None) -> Figure:
    """Bars of accuracy (%) per benchmark and run, one panel per protocol (columns run, dataset, protocol, value);
    colours fixed by `runs` (default: order of appearance), one legend below the panels; the axis starts at chance
    (50 %, said on the axis label) or at 0 when a bar is below chance."""
    runs = list(runs) if runs is not None else list(dict.fromkeys(long["run"]))
    protocols = list(dict.fromkeys(long["protocol"]))
    width = min(9.0, max(7.0, 0.06 * len(runs) * long["dataset"].nunique() + 2))  # no wider than the page shows
    fig, axes = panel_grid(len(protocols), 1, (width, 3.6))
    base = CHANCE_ACCURACY_PCT if long["value"].min() >= CHANCE_ACCURACY_PCT else 0.0
    ylabel = "accuracy (%)" + (f"\naxis from {base:g} (chance)" if base else "")
    for ax, protocol in zip(axes, protocols):
        sns.barplot(long[long["protocol"] == protocol], x="dataset", y="value", hue="run", hue_order=runs,
                    palette=_palette(runs), saturation=1.0, ax=ax)
        ax.set(title=f"protocol: {protocol}", ylabel=ylabel, xlabel="", ylim=(base, 100))
        if ax.get_legend() is not None:  # one legend below the panels (outside_legend), not in each panel's layout
            ax.get_legend().remove()
    fig.tight_layout()
    outside_legend(fig, axes[0], ncol=4, title="run", below=True)
    return fig


ROC_FAR_MIN = min(FARS)


def roc_figure(rocs: Mapping[str, Mapping[str, pd.DataFrame]]) -> Figure:
    """ROC (TAR vs FAR, log-x) per suite (panels) and run (lines); `rocs[suite][run]` has columns far, tar. The FAR
    range below the smallest FAR any run reaches (a single impostor pair's share, or more) is shaded and labelled."""
    fig, axes = panel_grid(len(rocs), 2, (5, 4.2))
    runs = list(dict.fromkeys(r for per_run in rocs.values() for r in per_run))
    styles = series_styles(runs)
    for ax, (suite, per_run) in zip(axes, rocs.items()):
        for run, roc in per_run.items():
            st = styles[run]
            ax.plot(roc["far"], roc["tar"], label=run, lw=st["lw"], color=st["color"], ls=st["ls"], zorder=st["zorder"])
        reached = [float(roc["far"][roc["far"] > 0].min()) for roc in per_run.values() if (roc["far"] > 0).any()]
        if reached and min(reached) > ROC_FAR_MIN:
            ax.axvspan(ROC_FAR_MIN, min(reached), color="0.85", zorder=0)
            # vertical, centred in the band: one line of text is narrower than any band that is drawn at all
            ax.text(np.sqrt(ROC_FAR_MIN * min(reached)), 0.5, "not measurable: FAR < 1 / impostor pairs",
                    ha="center", va="center", rotation=90, fontsize=8, color="0.15", clip_on=True)
        ax.set(xscale="log", xlim=(ROC_FAR_MIN, 1), ylim=(0, 1.01), xlabel="FAR", ylabel="TAR", title=suite)
    fig.tight_layout()
    outside_legend(fig, axes[0], ncol=4, title="run", below=True)
    return fig


def similarity_figure(scores: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
                      overlaps: Mapping[tuple[str, str], float], bins: int = 100, ncols: int = 4) -> Figure:
    """Genuine vs impostor score densities: per suite a block of panels (one per run, `ncols` per row), each titled
    with its overlap, every panel labelled, all on one density scale (so heights compare), text readable once the
    figure is fitted to the page."""
    suites = list(scores)
    runs = list(dict.fromkeys(r for per_run in scores.values() for r in per_run))
    ncols = max(1, min(ncols, len(runs)))
    rows_per_suite = math.ceil(len(runs) / ncols)
    fig, axes = plt.subplots(rows_per_suite * len(suites), ncols, figsize=(2.9 * ncols, 2.5 * rows_per_suite
                                                                           * len(suites)), squeeze=False,
                             sharex=True, sharey=True)
    edges = np.linspace(-1, 1, bins + 1)
    for i, suite in enumerate(suites):
        for j, run in enumerate(runs):
            ax = axes[i * rows_per_suite + j // ncols, j % ncols]
            if run not in scores[suite]:
                ax.set_visible(False)
                continue
            values, labels = scores[suite][run]
            ax.hist(values[labels == 0], bins=edges, density=True, alpha=0.55, label="impostor", color="tab:red")
            ax.hist(values[labels == 1], bins=edges, density=True, alpha=0.55, label="genuine", color="tab:green")
            ax.set_title(f"{suite} · {run}\noverlap {overlaps[(suite, run)]:.3f}", fontsize=10)
            ax.set_xlabel("cosine similarity", fontsize=9)
            ax.set_ylabel("density", fontsize=9)
            ax.tick_params(labelsize=9, labelbottom=True, labelleft=True)
        for j in range(len(runs), rows_per_suite * ncols):
            axes[i * rows_per_suite + j // ncols, j % ncols].set_visible(False)
    fig.tight_layout()
    outside_legend(fig, axes[0, 0])
    return fig


def training_curves_figure(curves: pd.DataFrame, columns: Sequence[str] = ("loss", "acc", "lr"),
                           runs: Sequence[str] | None = None) -> Figure:
    """Training metrics against the step, one panel per metric (two a row; loss and lr on log axes), one styled line
    per run (styles fixed by `runs`), one legend below the panels."""
    runs = list(runs) if runs is not None else list(dict.fromkeys(curves["run"]))
    styles = series_styles(runs)
    present = [c for c in columns if c in curves.columns]
    fig, axes = panel_grid(len(present), 2, (5, 3.8))  # two panels a row and the legend below: readable on the page
    for ax, column in zip(axes, present):
        for run in runs:
            part = curves[curves["run"] == run]
            if part.empty:
                continue
            st = styles[run]
            ax.plot(part["step"], part[column], label=run, color=st["color"], ls=st["ls"], lw=st["lw"],
                    zorder=st["zorder"])
        if column in ("loss", "lr", "target_prob_median") and (curves[column] > 0).all():
            ax.set_yscale("log")
        ax.set(title=column + (" (log scale)" if ax.get_yscale() == "log" else ""), xlabel="step", ylabel=column)
    fig.tight_layout()
    outside_legend(fig, axes[0], ncol=4, title="run", below=True)
    return fig


def nearest_angle_figure(frames: Mapping[str, pd.DataFrame]) -> Figure:
    """Distribution of the angle from each class centre to its nearest other centre: one box per run."""
    runs = list(frames)
    long = pd.concat([f[["nearest_angle_deg"]].assign(run=run) for run, f in frames.items()], ignore_index=True)
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(runs) + 1.4))
    sns.boxplot(long, x="nearest_angle_deg", y="run", order=runs, hue="run", hue_order=runs, palette=_palette(runs),
                legend=False, ax=ax, fliersize=2, width=0.6)
    ax.axvline(90, color="0.4", ls=":", lw=1)
    ax.set(xlabel="angle to the nearest other class centre (deg); dotted: 90°", ylabel="")
    fig.tight_layout()
    return fig


def realised_margin_figure(frames: Mapping[str, pd.DataFrame]) -> Figure:
    """Margin each run's loss realises at its trained nearest-centre angles: left, margin against angle (runs whose
    curves coincide share one labelled line); right, its distribution (a constant margin is a marked line)."""
    usable = {run: f for run, f in frames.items() if f["margin_deg"].notna().any()}
    if not usable:
        return notice_figure("No run has a loss with a fixed two-class margin.")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    lo = max(float(f["nearest_angle_deg"].min()) for f in usable.values())
    hi = min(float(f["nearest_angle_deg"].max()) for f in usable.values())
    grid = np.linspace(min(lo, hi), max(lo, hi), 60)
    curves = {}
    for run, frame in usable.items():
        order = frame.dropna(subset=["margin_deg"]).sort_values("nearest_angle_deg")
        x, y = order["nearest_angle_deg"].to_numpy(), order["margin_deg"].to_numpy()
        curves[run] = (grid, np.interp(grid, x, y, left=np.nan, right=np.nan)) if hi > lo else (x, y)
    groups = draw_series(left, curves, legend=False)
    styles = series_styles([merged_label(m) for m in groups])
    spread = [f["margin_deg"].dropna().to_numpy() for f in usable.values()]
    spread = np.concatenate([v for v in spread if v.size and not is_degenerate(v)] or [np.zeros(0)])
    edges = np.linspace(spread.min(), spread.max(), 41) if spread.size and np.ptp(spread) > 0 else 30
    for members in groups:
        label = merged_label(members)
        draw_density(right, usable[members[0]]["margin_deg"].to_numpy(), label, styles[label], bins=edges)
    left.set(xlabel="nearest-centre angle (deg), range all runs cover", ylabel="realised margin (deg)")
    right.set(xlabel="realised margin (deg)", ylabel="density")
    fig.tight_layout()
    outside_legend(fig, right)
    return fig


def angle_vs_count_figure(frames: Mapping[str, pd.DataFrame], ncols: int = 4) -> Figure:
    """Scatter of nearest-centre angle against class size, one panel per run (log x with plain tick labels)."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    fig, axes = panel_grid(len(frames), ncols, (3.4, 3.0), sharey=True)
    for ax, (run, frame) in zip(axes, frames.items()):
        ax.scatter(frame["count"], frame["nearest_angle_deg"], s=5, alpha=0.5, rasterized=True)
        if frame["count"].min() > 0:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(run, fontsize=10)
        ax.set_xlabel("training images of the class", fontsize=9)
        ax.set_ylabel("nearest-centre angle (deg)", fontsize=9)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig
