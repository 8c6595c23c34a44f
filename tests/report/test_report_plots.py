"""Figures a reader can read: no series hidden under another, no density axis blown up by a constant sample, legends
beside the data, one colour per run across a page's figures, tick labels that do not overlap."""

from __future__ import annotations

import itertools

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from x2softmax.report import plots  # noqa: E402

THETA = np.arange(0, 181, 1.0)


def hidden_series(fig) -> list[tuple[str, str]]:
    """Pairs of lines in one axes that lie on top of each other with the same colour-blind look (style, marker)."""
    found = []
    for ax in fig.axes:
        lines = [ln for ln in ax.get_lines() if ln.get_visible() and len(ln.get_xdata()) > 2]
        ys = [np.asarray(ln.get_ydata(), dtype=float) for ln in lines]
        finite = [y[np.isfinite(y)] for y in ys if np.isfinite(y).any()]
        scale = float(np.ptp(np.concatenate(finite))) if finite else 1.0
        for (a, ya), (b, yb) in itertools.combinations(zip(lines, ys), 2):
            same_x = np.shape(a.get_xdata()) == np.shape(b.get_xdata()) and np.allclose(a.get_xdata(), b.get_xdata())
            if same_x and plots.near_identical(ya, yb, scale):
                if a.get_linestyle() == b.get_linestyle() and a.get_marker() == b.get_marker():
                    found.append((a.get_label(), b.get_label()))
    return found


def blown_up_density_axes(fig, limit: float = 50.0) -> list[str]:
    """Axes labelled as a density whose y range exceeds `limit` (what a zero-width histogram bin produces)."""
    return [ax.get_xlabel() for ax in fig.axes if ax.get_ylabel() == "density" and ax.get_ylim()[1] > limit]


def _target_frame() -> pd.DataFrame:
    rad = np.deg2rad(THETA)
    f = {"arcface": np.cos(rad + 0.5), "elasticface_arc_plus": np.cos(rad + 0.5) + 1e-4, "cosface": np.cos(rad) - 0.35}
    return pd.concat([pd.DataFrame({"loss": k, "theta_deg": THETA, "f": v, "cosine_margin": np.cos(rad) - v})
                      for k, v in f.items()])


def test_identical_curves_are_merged_into_one_labelled_line():
    fig = plots.target_logit_figure(_target_frame())
    assert hidden_series(fig) == []
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert "arcface ≈ elasticface_arc_plus" in labels and "cosface" in labels
    plt.close(fig)


def test_the_hidden_series_check_catches_a_planted_overlap():
    fig, ax = plt.subplots()
    ax.plot(THETA, np.cos(THETA), color="C0")
    ax.plot(THETA, np.cos(THETA) + 1e-6, color="C1")
    assert hidden_series(fig)
    plt.close(fig)


def test_angular_margins_distinguish_every_loss():
    angular = pd.concat([pd.DataFrame({"loss": name, "theta_w_deg": THETA[1:], "margin_deg": margin})
                         for name, margin in {"arcface": np.full(180, 28.6), "elasticface_arc": np.full(180, 28.6),
                                              "sphere": THETA[1:] * 0.6}.items()])
    fig = plots.angular_margin_figure(angular)
    assert hidden_series(fig) == [] and len(fig.axes[0].get_lines()) == 2
    plt.close(fig)


def test_angular_margins_wider_than_the_half_circle_do_not_scale_the_axis():
    theta = np.arange(1.0, 181.0)
    arc = np.where(theta < 29, 360 - 28.65 - theta, 28.65)  # straight-through ArcFace below θ_w = m: wraps around
    angular = pd.DataFrame({"loss": "arcface", "theta_w_deg": theta, "margin_deg": arc})
    fig = plots.angular_margin_figure(angular)
    ax = fig.axes[0]
    assert ax.get_ylim()[1] <= 180
    assert any("arcface for θ_w ≤ 28°" in t.get_text() for t in ax.texts)
    plt.close(fig)


def _geometry(margin: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame({"nearest_angle_deg": np.sort(rng.uniform(63, 77, margin.size)), "margin_deg": margin,
                         "count": rng.integers(5, 80, margin.size)})


def test_constant_margins_are_marked_lines_not_blown_up_densities():
    rng = np.random.default_rng(0)
    frames = {"arcface": _geometry(np.full(300, 28.65), rng), "elasticface_arc": _geometry(np.full(300, 28.65), rng),
              "x2softmax": _geometry(rng.normal(35, 1.5, 300), rng)}
    fig = plots.realised_margin_figure(frames)
    assert blown_up_density_axes(fig) == [] and hidden_series(fig) == []
    right = fig.axes[1]
    assert any("constant 28.6" in t.get_text() for legend in fig.legends for t in legend.get_texts())
    assert right.get_ylim()[1] < 1.0  # scaled by X2's spread sample, not by the constant ones
    plt.close(fig)


def test_the_density_check_catches_a_planted_degenerate_histogram():
    import seaborn as sns

    fig, ax = plt.subplots()  # what the page drew before: seaborn's step density of a constant margin
    constant = 28.65 + (np.arange(300) % 2) * 1e-12  # a constant margin, up to floating-point noise
    sns.histplot(pd.Series(constant), ax=ax, element="step", fill=False, stat="density")
    ax.set_ylabel("density")
    assert blown_up_density_axes(fig)
    plt.close(fig)


def _curves(runs):
    return pd.concat([pd.DataFrame({"step": np.arange(1, 50), "loss": np.geomspace(20, 0.01 * (i + 1), 49),
                                    "acc": np.linspace(0, 1, 49), "lr": 0.1, "run": run}) for i, run in enumerate(runs)])


def test_legends_sit_beside_the_panels_and_colours_agree_across_figures():
    runs = ["x2softmax", "x2_exact_grad", "x2_a-0.5"]
    curves = plots.training_curves_figure(_curves(runs), columns=("loss", "acc"), runs=runs)
    assert all(ax.get_legend() is None for ax in curves.axes) and curves.legends
    assert curves.axes[0].get_yscale() == "log"
    long = pd.DataFrame([{"run": r, "dataset": d, "protocol": p, "value": 90 + i}
                         for i, r in enumerate(reversed(runs)) for d in ("lfw", "cfp_fp") for p in ("10fold", "oracle")])
    bars = plots.verification_figure(long, runs)

    def colours(fig):
        return {t.get_text(): to_rgba(h.get_facecolor() if hasattr(h, "get_facecolor") and not hasattr(h, "get_ydata")
                                      else h.get_color())
                for legend in fig.legends for t, h in zip(legend.get_texts(), legend.legend_handles)}

    line_colours, bar_colours = colours(curves), colours(bars)
    assert set(line_colours) == set(runs) and all(line_colours[r] == bar_colours[r] for r in runs)
    plt.close("all")


def test_log_axis_tick_labels_do_not_overlap():
    rng = np.random.default_rng(1)
    frames = {f"run{i}": _geometry(rng.normal(70, 3, 300), rng) for i in range(5)}
    fig = plots.angle_vs_count_figure(frames)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels(which="both")
                 if t.get_visible() and t.get_text() and ax.get_xlim()[0] <= t.get_position()[0] <= ax.get_xlim()[1]]
        assert boxes and not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    plt.close(fig)


def test_similarity_panels_have_labels_and_legible_text():
    rng = np.random.default_rng(2)
    labels = (rng.random(500) < 0.2).astype(int)
    scores = {s: {f"run{i}": (rng.normal(0.2 + 0.4 * labels, 0.1), labels) for i in range(7)} for s in ("IJBB", "IJBC")}
    overlaps = {(s, r): 0.1 for s in scores for r in scores[s]}
    fig = plots.similarity_figure(scores, overlaps)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 14
    for ax in visible:
        assert ax.get_ylabel() == "density" and ax.get_xlabel()
        assert ax.title.get_fontsize() >= 9 and min(t.get_fontsize() for t in ax.get_xticklabels()) >= 8
    plt.close(fig)


@pytest.mark.parametrize("values", [np.full(10, 3.0), np.array([1.0, 1.0 + 1e-12])])
def test_degenerate_samples_are_detected(values):
    assert plots.is_degenerate(values) and not plots.is_degenerate(np.array([1.0, 2.0]))


def test_similarity_panels_share_one_scale_and_stay_readable_on_the_page():
    """Fig. 4.2 with 13 runs on two suites: one density scale for every panel, and no text under 9 px once the
    figure is fitted to the page's content width."""
    from figure_text import CONTENT_WIDTH_PX, MIN_LEGEND_TEXT_PX, smallest_text_px

    rng = np.random.default_rng(3)
    labels = (rng.random(400) < 0.2).astype(int)
    scores = {s: {f"run{i}": (rng.normal(0.2 + 0.4 * labels, 0.05 + 0.02 * i), labels) for i in range(13)}
              for s in ("IJBB", "IJBC")}
    fig = plots.similarity_figure(scores, {(s, r): 0.1 for s in scores for r in scores[s]})
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 26 and len({ax.get_ylim() for ax in visible}) == 1
    assert smallest_text_px(fig, CONTENT_WIDTH_PX) >= MIN_LEGEND_TEXT_PX
    plt.close(fig)
    wide, ax = plt.subplots(figsize=(30, 4))  # the check catches a planted page-wide figure
    ax.set_title("tiny once shrunk", fontsize=10)
    assert smallest_text_px(wide, CONTENT_WIDTH_PX) < MIN_LEGEND_TEXT_PX
    plt.close(wide)
