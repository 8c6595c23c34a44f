"""Up to 23 runs in one figure stay distinguishable (colours far apart in CIELAB, X2 emphasised), and a legend is
still readable once its figure is scaled to the page's content width."""

from __future__ import annotations

import itertools

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from x2softmax.losses import available_losses  # noqa: E402
from x2softmax.report import palette, plots, uncertainty  # noqa: E402
from figure_text import CONTENT_WIDTH_PX, MIN_LEGEND_TEXT_PX, legend_text_px  # noqa: E402  (tests/support)

LOSSES = available_losses()
ABLATIONS = ["x2_exact_grad", "x2_a-0.5", "x2_k-0.8", "x2_h-0.2"]
RUNS_23 = (LOSSES + ABLATIONS + ["arcface.seed2049", "cosface.seed2049", "adaface.seed2049", "softmax.seed2049",
                                 "normface.seed2049", "magface.seed2049"])[:23]  # the 23 the palette is sized for


def closest_pair(styles: dict[str, dict]) -> tuple[str, str, float]:
    """The two labels whose colours are nearest in CIELAB (CIE76 ΔE) and that distance; ('', '', inf) if < 2."""
    lab = {label: palette.cielab(style["color"]) for label, style in styles.items()}
    pairs = ((a, b, float(np.linalg.norm(lab[a] - lab[b]))) for a, b in itertools.combinations(lab, 2))
    return min(pairs, key=lambda p: p[2], default=("", "", float("inf")))


def test_twenty_three_runs_get_colours_far_apart_and_x2_stands_out():
    assert len(RUNS_23) == 23
    styles = palette.series_styles(RUNS_23)
    a, b, distance = closest_pair(styles)
    assert distance >= palette.MIN_DELTA_E, (a, b, distance)
    x2 = styles["x2softmax"]
    others = [s for run, s in styles.items() if run != "x2softmax"]
    assert x2["lw"] > max(s["lw"] for s in others) and x2["zorder"] > max(s["zorder"] for s in others)
    assert len({(to_hex(s["color"]), s["ls"]) for s in styles.values()}) == 23


@pytest.mark.parametrize("pair", [("arcface", "x2softmax"), ("normface", "adaface"), ("sphereface", "curricularface"),
                                  ("sphereface", "x2_a-0.5")])
def test_the_pairs_a_reader_confused_are_far_apart(pair):
    """The issue's near-identical pairs (Fig. 5.1 runs the base runs then the ablations)."""
    styles = palette.series_styles(RUNS_23)
    lab = [palette.cielab(styles[run]["color"]) for run in pair]
    assert float(np.linalg.norm(lab[0] - lab[1])) >= palette.MIN_DELTA_E


def test_the_colour_check_catches_a_planted_near_identical_pair(monkeypatch):
    monkeypatch.setattr(palette, "COLOURS", ("#1f77b4", "#ff7f0e", "#1f78b6"))
    a, b, distance = closest_pair(palette.series_styles(["arcface", "cosface", "adaface"]))
    assert (a, b) == ("arcface", "adaface") and distance < palette.MIN_DELTA_E


def test_x2_seeds_stay_black_and_are_told_apart_by_line_style():
    styles = palette.series_styles(["arcface", "x2softmax", "x2softmax.seed2049", "x2_a-0.5"])
    assert to_hex(styles["x2softmax"]["color"]) == to_hex(styles["x2softmax.seed2049"]["color"]) == "#000000"
    assert styles["x2softmax"]["ls"] != styles["x2softmax.seed2049"]["ls"]
    assert to_hex(styles["x2_a-0.5"]["color"]) != "#000000"
    assert palette.is_x2("arcface ≈ x2softmax") and not palette.is_x2("x2_exact_grad")


def _curves(runs):
    steps = np.arange(0, 200, 10)
    return pd.concat([pd.DataFrame({"run": r, "step": steps, "loss": 10.0 / (1 + steps + i), "acc": 0.5 + 0.001 * i,
                                    "lr": 0.1}) for i, r in enumerate(runs)])


def _accuracy(runs, datasets=("lfw", "cfp_fp", "agedb_30", "calfw", "cplfw")):
    return pd.DataFrame([{"run": r, "dataset": d, "protocol": p, "value": 70.0 + i % 7}
                         for i, r in enumerate(runs) for d in datasets for p in ("10fold", "oracle")])


def _figures(runs):
    """Every figure that compares runs, drawn for `runs`."""
    rocs = {s: {r: pd.DataFrame({"far": np.logspace(-5, 0, 20), "tar": np.linspace(0.2, 1, 20)}) for r in runs}
            for s in ("IJBB", "IJBC")}
    intervals = pd.DataFrame([{"run": r, "dataset": d, "protocol": "10fold", "value": 80.0, "ci_low": 78.0,
                               "ci_high": 82.0} for r in runs for d in ("lfw", "cfp_fp")])
    return {
        "training curves (Fig. 5.1)": plots.training_curves_figure(_curves(runs), runs=runs),
        "accuracy bars (Fig. 3.1)": plots.verification_figure(_accuracy(runs), runs),
        "ROC (Fig. 4.1)": plots.roc_figure(rocs),
        "error bars (Fig. 3.2)": uncertainty.errorbar_figure(intervals, runs, "protocol", "dataset", "accuracy (%)"),
    }


def test_every_comparison_figure_highlights_x2_and_keeps_its_legend_readable():
    for name, fig in _figures(RUNS_23).items():
        assert legend_text_px(fig, CONTENT_WIDTH_PX) >= MIN_LEGEND_TEXT_PX, name
        black = [h for legend in fig.legends for h, t in zip(legend.legend_handles, legend.get_texts())
                 if t.get_text() == "x2softmax"]
        assert black, f"{name}: no legend entry for x2softmax"
        handle = black[0]
        colour = handle.get_facecolor() if isinstance(handle, matplotlib.patches.Patch) else handle.get_color()
        assert to_hex(colour) == palette.X2_COLOUR, name
        plt.close(fig)


def test_the_legend_check_catches_a_planted_page_wide_figure():
    fig, ax = plt.subplots(figsize=(24, 4))
    ax.plot([0, 1], [0, 1], label="x2softmax")
    ax.legend(fontsize=9)
    assert legend_text_px(fig, CONTENT_WIDTH_PX) < MIN_LEGEND_TEXT_PX
    plt.close(fig)


def test_bar_axes_start_at_chance_or_zero_and_say_so():
    fig = plots.verification_figure(_accuracy(["arcface", "x2softmax"]))
    assert fig.axes[0].get_ylim()[0] == plots.CHANCE_ACCURACY_PCT and "chance" in fig.axes[0].get_ylabel()
    low = _accuracy(["arcface", "x2softmax"]).assign(value=40.0)
    assert plots.verification_figure(low).axes[0].get_ylim()[0] == 0.0
    plt.close("all")


def test_the_content_width_matches_the_stylesheet():
    import re

    from x2softmax.report.style import CSS

    body = re.search(r"body \{[^}]*max-width: (\d+)px;[^}]*padding: 0 (\d+)px", CSS)
    assert body and int(body.group(1)) - 2 * int(body.group(2)) == CONTENT_WIDTH_PX


def test_the_unmeasurable_far_range_is_shaded_and_labelled():
    roc = pd.DataFrame({"far": np.logspace(-3, 0, 10), "tar": np.linspace(0.2, 1, 10)})
    fig = plots.roc_figure({"IJBB": {"arcface": roc, "x2softmax": roc}})
    ax = fig.axes[0]
    spans = [(p.get_x(), p.get_x() + p.get_width()) for p in ax.patches]
    assert spans == [(pytest.approx(plots.ROC_FAR_MIN), pytest.approx(1e-3))]
    assert any("not measurable" in t.get_text() for t in ax.texts)
    plt.close(fig)
