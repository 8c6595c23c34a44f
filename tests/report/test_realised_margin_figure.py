"""The realised-margin figure draws a loss whose margin is constant up to solver noise (ArcFace)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd

from x2softmax.report.plots import realised_margin_figure


def test_constant_margin_with_float_noise_is_drawn():
    angles = np.linspace(60.0, 90.0, 24)
    arcface = 28.647889756541147 + np.r_[np.zeros(23), 1.4e-14]  # what the solver returns for ArcFace's 0.5 rad
    frames = {
        "arcface": pd.DataFrame({"nearest_angle_deg": angles, "margin_deg": arcface}),
        "x2softmax": pd.DataFrame({"nearest_angle_deg": angles, "margin_deg": np.linspace(37.0, 41.0, 24)}),
    }
    fig = realised_margin_figure(frames)
    assert len(fig.axes) == 2
