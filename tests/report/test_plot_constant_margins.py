"""Regression: a loss with a constant angular margin (ArcFace) gives margins equal up to float noise."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from x2softmax.report.plots import realised_margin_figure  # noqa: E402


def test_realised_margin_figure_bins_margins_equal_up_to_float_noise():
    noisy = pd.DataFrame({"nearest_angle_deg": [80.0, 85.0, 90.0, 95.0],
                          "margin_deg": [28.64788975654116, 28.647889756541165, 28.64788975654116,
                                         28.64788975654117]})
    figure = realised_margin_figure({"arcface": noisy})
    assert len(figure.axes) == 2
    histogram = figure.axes[1]
    assert histogram.lines or histogram.patches or histogram.collections  # the histogram was drawn
