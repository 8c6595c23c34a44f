"""Margin analysis: target logits, cosine margins, closed-form angular margins, the paper's X2 table, CSV tables."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest

from x2softmax.analysis.margins import (
    angular_margin,
    cosine_margin,
    decision_boundaries,
    target_logit,
    write_margin_tables,
)
from x2softmax.vocabulary import MARGIN_TABLES

# paper.md §2: θ_w (deg) -> two-class angular margin (deg) for X2 (a, h, k) = (-0.9, 0, 0.65) and CosFace m = 0.35.
X2_TABLE = {40: 65.46, 50: 48.93, 60: 42.17, 70: 38.70, 80: 36.94, 90: 36.25, 100: 36.32, 120: 38.08, 150: 43.92,
            180: 53.37}
COSFACE_TABLE = {40: 61.55, 50: 48.92, 60: 40.98, 70: 35.53, 80: 31.60, 90: 28.66, 100: 26.41, 120: 23.32,
                 150: 20.88, 180: 20.16}
THETA = np.linspace(0.0, math.pi, 37)


def test_x2_margin_table_of_paper() -> None:
    tw = np.deg2rad(list(X2_TABLE))
    got = np.rad2deg(angular_margin("x2softmax", tw, a=-0.9, h=0.0, k=0.65))
    np.testing.assert_allclose(got, list(X2_TABLE.values()), atol=0.05)


def test_cosface_margin_table_of_paper() -> None:
    got = np.rad2deg(angular_margin("cosface", np.deg2rad(list(COSFACE_TABLE)), m=0.35))
    np.testing.assert_allclose(got, list(COSFACE_TABLE.values()), atol=0.05)


def test_x2_margin_is_u_shaped_and_absent_for_close_classes() -> None:
    tw_deg = np.arange(1, 181)
    margin = np.rad2deg(angular_margin("x2softmax", np.deg2rad(tw_deg)))
    assert np.all(np.isnan(margin[tw_deg < 36]))
    assert not np.any(np.isnan(margin[tw_deg >= 40]))
    low = int(tw_deg[np.nanargmin(margin)])
    assert 90 <= low <= 98
    assert np.nanmin(margin) == pytest.approx(36.2, abs=0.1)


def test_closed_forms() -> None:
    tw = np.deg2rad(np.arange(35, 181, 5))
    np.testing.assert_allclose(angular_margin("arcface", tw, m=0.5), 0.5, atol=1e-9)
    np.testing.assert_allclose(angular_margin("cosface", tw, m=0.35),
                               2 * np.arcsin(0.35 / (2 * np.sin(tw / 2))), atol=1e-9)
    for m in (2, 3, 4):
        np.testing.assert_allclose(angular_margin("sphereface", tw, m=m), tw * (m - 1) / (m + 1), atol=1e-9)
    np.testing.assert_allclose(angular_margin("normface", tw), 0.0, atol=1e-9)


def test_no_boundary_is_nan() -> None:
    # CosFace m = 0.35 needs 2 sin(θw/2) >= m.
    tw = np.deg2rad([10.0, 20.0, 25.0])
    got = angular_margin("cosface", tw, m=0.35)
    assert np.isnan(got[0]) and np.isfinite(got[2])
    assert np.isnan(angular_margin("x2softmax", 0.0))


def test_decision_boundaries_geometry() -> None:
    tw = np.deg2rad([45.0, 90.0, 135.0])
    b = decision_boundaries("arcface", tw, m=0.5)
    np.testing.assert_allclose(b["boundary1"], (tw - 0.5) / 2, atol=1e-9)
    np.testing.assert_allclose(b["boundary1"] + b["boundary2"], tw, atol=1e-12)
    x2 = decision_boundaries("x2softmax", np.deg2rad(40.0))
    assert x2["boundary1"] < 0 < x2["boundary2"] - np.deg2rad(40.0)  # boundary behind W1 for close classes


def test_target_logits() -> None:
    np.testing.assert_allclose(target_logit("x2softmax", THETA), 0.65 - 0.9 * THETA**2, atol=1e-7)
    np.testing.assert_allclose(target_logit("x2softmax", THETA, a=-0.5, h=-0.1, k=0.7),
                               0.7 - 0.5 * (THETA + 0.1) ** 2, atol=1e-7)
    inner = THETA[THETA + 0.5 <= math.pi]
    np.testing.assert_allclose(target_logit("arcface", inner, m=0.5), np.cos(inner + 0.5), atol=1e-7)
    np.testing.assert_allclose(target_logit("cosface", THETA), np.cos(THETA) - 0.35, atol=1e-12)
    np.testing.assert_allclose(target_logit("normface", THETA), np.cos(THETA), atol=1e-12)
    np.testing.assert_allclose(target_logit("elasticface_arc", inner), np.cos(inner + 0.5), atol=1e-7)
    small = THETA[THETA <= math.pi / 4]
    np.testing.assert_allclose(target_logit("sphereface", small), np.cos(4 * small), atol=1e-7)


def test_cosine_margin_values_of_paper() -> None:
    got = cosine_margin("x2softmax", np.deg2rad([0.0, 30.0, 60.0, 90.0]))
    np.testing.assert_allclose(got, [0.35, 0.463, 0.837, 1.571], atol=5e-4)
    assert np.all(np.diff(cosine_margin("x2softmax", THETA)) > 0)


@pytest.mark.parametrize("name", ["magface", "adaface", "curricularface"])
def test_adaptive_losses_have_no_fixed_target(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name}: no fixed target logit"):
        target_logit(name, THETA)
    with pytest.raises(ValueError, match=f"{name}: no fixed target logit"):
        angular_margin(name, THETA)


def test_bad_angles_raise() -> None:
    with pytest.raises(ValueError, match="theta must be finite angles in radians"):
        target_logit("arcface", [0.1, 4.0])
    with pytest.raises(ValueError, match="theta_w must be finite angles"):
        angular_margin("arcface", np.nan)


def test_write_margin_tables(tmp_path, caplog) -> None:
    losses = {
        "X2-Softmax": {"name": "x2softmax", "hparams": {}},
        "ArcFace": {"name": "arcface", "hparams": {"m": 0.5}},
        "CosFace": {"name": "cosface", "hparams": {"m": 0.35}},
        "MagFace": {"name": "magface", "hparams": {}},
    }
    grid = {"a": (-0.6, -0.9), "h": (-0.2, 0.0), "k": (0.65,)}
    with caplog.at_level(logging.WARNING):
        paths = write_margin_tables(losses, tmp_path / "margins", x2_grid=grid)
    assert "MagFace" in caplog.text
    assert [p.name for p in paths] == [f"{name}.csv" for name in MARGIN_TABLES]
    assert sorted(MARGIN_TABLES) == ["angular_margins", "boundaries", "target_logits", "x2_grid", "x2_grid_margins"]
    targets = pd.read_csv(tmp_path / "margins" / "target_logits.csv")
    assert list(targets.columns) == ["loss", "theta_deg", "f", "cosine_margin"]
    assert set(targets["loss"]) == {"X2-Softmax", "ArcFace", "CosFace"}
    angular = pd.read_csv(tmp_path / "margins" / "angular_margins.csv")
    assert list(angular.columns) == ["loss", "theta_w_deg", "margin_deg"]
    assert angular["theta_w_deg"].min() == 1 and angular["theta_w_deg"].max() == 180
    x2_90 = angular.query("loss == 'X2-Softmax' and theta_w_deg == 90")["margin_deg"].item()
    assert x2_90 == pytest.approx(X2_TABLE[90], abs=0.05)
    curves = pd.read_csv(tmp_path / "margins" / "x2_grid.csv")
    assert list(curves.columns) == ["param", "a", "h", "k", "theta_deg", "f", "cosine_margin"]
    assert len(curves) == 5 * 181
    grid_margins = pd.read_csv(tmp_path / "margins" / "x2_grid_margins.csv")
    assert list(grid_margins.columns) == ["param", "a", "h", "k", "theta_w_deg", "margin_deg"]
    bounds = pd.read_csv(tmp_path / "margins" / "boundaries.csv")
    assert list(bounds.columns) == ["loss", "theta_w_deg", "boundary1_deg", "boundary2_deg"]
    assert sorted(set(bounds["theta_w_deg"])) == [45, 90, 135]
    assert not list((tmp_path / "margins").glob(".*.tmp"))


def test_write_margin_tables_rejects_bad_entries(tmp_path) -> None:
    with pytest.raises(ValueError, match="entry 'X' must be a mapping with a 'name'"):
        write_margin_tables({"X": {"hparams": {}}}, tmp_path)
    with pytest.raises(ValueError, match="no loss with a fixed target logit"):
        write_margin_tables({"M": {"name": "magface"}}, tmp_path)
    with pytest.raises(ValueError, match="x2 grid: unknown parameter 's'"):
        write_margin_tables({"A": {"name": "arcface"}}, tmp_path, x2_grid={"s": (30.0,)})
