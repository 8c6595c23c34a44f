"""Verdicts are computed from the numbers on the page: each conclusion follows the stated rule, no text is fixed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from x2softmax.report import verdicts


def _curve(loss, theta, margin):
    return pd.DataFrame({"loss": loss, "theta_w_deg": theta, "margin_deg": margin})


def test_verdict_is_computed_from_the_data():
    theta = np.arange(1, 181, 1.0)
    u_shape = np.where(theta >= 40, 30 + 0.01 * (theta - 100) ** 2, np.nan)
    table = pd.concat([_curve("x2", theta, u_shape), _curve("arc", theta, np.full_like(theta, 28.65))])
    text = verdicts.margin_claim_verdict(table, "x2")
    assert "θ_w ≥ 40°" in text and "30.00° at θ_w = 100°" in text
    assert f"{0.01 * 80**2 + 30:.2f}° at θ_w = 180°" in text
    assert "only for classes more than 100° apart" in text and "arc: constant" in text
    grows = verdicts.margin_claim_verdict(_curve("sphere", theta, theta * 0.6), "sphere")
    assert "the claim holds" in grows and "108.00° at θ_w = 180°" in grows
    with pytest.raises(KeyError, match="not in the angular margin table"):
        verdicts.margin_claim_verdict(table, "cosface")


def test_grid_verdict_names_the_settings_whose_margin_only_grows():
    rows = pd.DataFrame([
        {"param": "h", "a": -0.9, "h": -0.6, "k": 0.65, "shape": "increasing", "min_margin_deg": 5.0, "min_at_deg": 30},
        {"param": "h", "a": -0.9, "h": 0.0, "k": 0.65, "shape": "U-shaped", "min_margin_deg": 20.0, "min_at_deg": 94},
    ])
    text = verdicts.grid_verdict(rows, {"a": -0.9, "h": 0.0, "k": 0.65})
    assert "Only with h = -0.6" in text and "minimum 20.0° at θ_w = 94°" in text
    none = verdicts.grid_verdict(rows.iloc[[1]], {"a": -0.9, "h": 0.0, "k": 0.65})
    assert "No setting of the grid" in none


def _compactness(x2_2d, arc_2d, x2_3d, arc_3d):
    return pd.DataFrame([
        {"loss": "x2softmax", "dim": 2, "mean_angle_to_centre_deg": x2_2d},
        {"loss": "arcface", "dim": 2, "mean_angle_to_centre_deg": arc_2d},
        {"loss": "x2softmax", "dim": 3, "mean_angle_to_centre_deg": x2_3d},
        {"loss": "arcface", "dim": 3, "mean_angle_to_centre_deg": arc_3d},
    ])


def test_compactness_verdict_follows_the_numbers():
    text = verdicts.compactness_verdict(_compactness(3.40, 3.38, 5.24, 7.86))
    two, three = text.split("**2-D**")[1].split("**3-D**")
    assert "3.40°" in two and "(tie)" in two and "not supported" in two
    assert "5.24°" in three and "7.86° (more compact)" in three and "the claim holds" in three
    worse = verdicts.compactness_verdict(_compactness(6.0, 3.0, 5.0, 5.0))
    assert "less compact" in worse and "does not hold" in worse


def _comparison(dim, low, high, seeds):
    """One row of compactness_comparisons: seeds maps seed -> (difference, low, high)."""
    diffs = [d for d, _, _ in seeds.values()]
    return {"dim": dim, "loss": "x2softmax", "rival": "arcface", "seeds": " ".join(map(str, seeds)),
            "difference": sum(diffs) / len(diffs), "ci_low": low, "ci_high": high,
            "seed_differences": " ".join(map(str, diffs)), "seed_low": min(diffs), "seed_high": max(diffs),
            "seed_intervals": " ".join(f"{lo}:{hi}" for _, lo, hi in seeds.values())}


def test_compactness_verdict_uses_the_seed_interval_and_a_planted_unstable_seed():
    stable = pd.DataFrame([_comparison(2, -0.9, -0.2, {1: (-0.5, -0.8, -0.2), 2: (-0.6, -0.9, -0.3)}),
                           _comparison(3, -0.9, -0.2, {1: (-0.5, -0.8, -0.2), 2: (-0.6, -0.9, -0.3)})])
    text = verdicts.compactness_verdict(_compactness(3.40, 3.38, 5.24, 7.86), comparisons=stable)
    assert text.count("(more compact)") == 2 and text.count("the claim holds") == 2 and "[-0.90, -0.20]" in text
    assert verdicts.compactness_outcome(stable.iloc[0]) == "more compact"
    planted = stable.copy()
    planted.iloc[0] = _comparison(2, -2.0, 1.0, {1: (-1.5, -1.8, -1.2), 2: (0.8, 0.5, 1.1)})
    text = verdicts.compactness_verdict(_compactness(3.40, 3.38, 5.24, 7.86), comparisons=planted)
    two, three = text.split("**2-D**")[1].split("**3-D**")
    assert "unstable over seeds" in two and "seeds -1.50° … +0.80°" in two and "the claim holds" in three


def test_ablation_verdict_uses_the_fold_spread_or_given_intervals():
    table = pd.DataFrame({"run": ["x2", "abl"], "overrides": ["defaults", "a=-0.5"],
                          "lfw 10fold": [90.0, 95.0], "lfw 10fold std": [1.0, 1.0],
                          "cfp 10fold": [80.0, 80.2], "cfp 10fold std": [1.0, 1.0]})
    text = verdicts.ablation_verdict(table, "x2")
    assert "better than x2 on lfw" in text and "+2.60 points" in text and "cfp" not in text.split("better")[1]
    given = pd.DataFrame({"run": ["abl", "abl"], "dataset": ["lfw", "cfp"], "low": [-1.0, 0.1], "high": [9.0, 0.3]})
    assert "better than x2 on cfp" in verdicts.ablation_verdict(table, "x2", given)
    assert "no verdict" in verdicts.ablation_verdict(table.iloc[[1]], "x2")


def test_the_ablation_verdict_reads_every_protocol_shown():
    """Page 06 shows 10-fold and oracle accuracies; a difference under oracle only is stated, and the disagreement
    named (a verdict reading 10-fold alone would say "no benchmark differs")."""
    table = pd.DataFrame({"run": ["x2", "x2_exact_grad"], "overrides": ["defaults", "gradient=exact"],
                          "lfw 10fold": [90.0, 90.1], "lfw 10fold std": [1.0, 1.0], "lfw oracle": [91.0, 85.0]})
    intervals = pd.DataFrame({"run": ["x2_exact_grad"] * 2, "dataset": ["lfw"] * 2, "protocol": ["10fold", "oracle"],
                              "low": [-1.0, -7.0], "high": [1.2, -5.0]})
    text = verdicts.ablation_verdict(table, "x2", intervals)
    assert "10fold: mean Δ +0.10 points over 1 benchmarks, no benchmark differs" in text
    assert "oracle: mean Δ −6.00".replace("−", "-") in text and "worse than x2 on lfw" in text
    assert "protocols disagree" in text
    without = verdicts.ablation_verdict(table, "x2")  # no interval for oracle: said, not guessed
    assert "no interval on lfw" in without and "worse" not in without


def test_geometry_verdict_places_trained_angles_on_the_margin_curve():
    spec = {"x2softmax": {"name": "x2softmax", "hparams": {"s": 64.0, "a": -0.9, "h": 0.0, "k": 0.65}}}
    from x2softmax.analysis.margins import angular_margin

    theta = np.arange(1.0, 180.5, 0.5)
    curve = np.rad2deg(angular_margin("x2softmax", np.deg2rad(theta), a=-0.9, h=0.0, k=0.65))
    low = theta[np.nanargmin(curve)]
    below = pd.DataFrame({"nearest_angle_deg": np.linspace(low - 20, low - 5, 50)})
    text = verdicts.geometry_verdict({"x2softmax": below}, spec, synthetic=False)
    assert f"smallest at θ_w = {low:.0f}°" in text and "all on the falling side" in text
    above = pd.DataFrame({"nearest_angle_deg": np.linspace(low + 5, low + 20, 50)})
    assert "all on the rising side" in verdicts.geometry_verdict({"x2softmax": above}, spec, synthetic=False)
    assert "not trained" in verdicts.geometry_verdict({}, spec, synthetic=False)
    synthetic = verdicts.geometry_verdict({"x2softmax": below}, spec, synthetic=True)
    assert "on synthetic data (not the paper's faces), the opposite of the paper's claim" in synthetic
    assert "synthetic" not in text
