"""The controlled study's other questions (issue 36), each on simulated per-run results with a planted effect (found)
and a null (no detectable difference at about the stated error rate): look-alike pairs at equal overall accuracy,
realised margin against the inter-class angle, and convergence of close classes; and the per-class probe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from x2softmax.analysis import mechanism as M
from x2softmax.analysis.probe import class_probe
from x2softmax.evaluate.seeds import pooled_seed_variance

SHARES, EXPONENTS, SEEDS = (0.25, 0.5, 1.0), (0.0, 2.0), (2048, 2049, 2050)
LOSSES = ("arcface", "cosface", M.X2)


def lookalike_runs(rng: np.random.Generator, adjusted: float, sd: float = 0.5) -> pd.DataFrame:
    """Per run: overall accuracy (world + loss + seed noise) and look-alike accuracy = 0.8 x overall + world + X2's
    `adjusted` advantage at equal overall accuracy + noise."""
    rows = []
    for e in EXPONENTS:
        for x in SHARES:
            for loss, offset in (("arcface", 1.0), ("cosface", -0.5), (M.X2, 0.0)):
                for s in SEEDS:
                    overall = 90.0 - 3.0 * x - e + offset + sd * rng.standard_normal()
                    look = 0.8 * overall - 2.0 * x + (adjusted if loss == M.X2 else 0.0) + sd * rng.standard_normal()
                    rows.append((x, e, loss, s, look, overall))
    return pd.DataFrame(rows, columns=["lookalike_share", "size_exponent", "loss", "seed", "lookalike", "overall"])


def test_a_planted_lookalike_advantage_at_equal_accuracy_is_found_and_covered() -> None:
    rng = np.random.default_rng(10)
    effects = [M.adjusted_difference(lookalike_runs(rng, 2.0), "arcface") for _ in range(200)]
    assert np.mean([e.low > 0 for e in effects]) > 0.95
    assert 0.9 < np.mean([e.low <= 2.0 <= e.high for e in effects])
    table = M.lookalike_table(lookalike_runs(rng, 2.0), pooled_seed_variance)
    assert table["quantity"].tolist() == list(M.LOOKALIKE_QUANTITIES) * 2
    adjusted = table[table["quantity"] == M.LOOKALIKE_QUANTITIES[2]]
    assert adjusted["verdict"].tolist() == ["X2 higher", "X2 higher"]
    # arcface is 1 point better overall: without the adjustment X2's look-alike edge shrinks to 2 - 0.8
    raw = table[(table["quantity"] == M.LOOKALIKE_QUANTITIES[0]) & (table["baseline"] == "arcface")].iloc[0]
    assert raw["effect"] == pytest.approx(2.0 - 0.8, abs=0.6)


def test_no_lookalike_advantage_is_no_detectable_difference_at_about_the_stated_rate() -> None:
    rng = np.random.default_rng(11)
    effects = [M.adjusted_difference(lookalike_runs(rng, 0.0), "cosface") for _ in range(600)]
    false = np.mean([e.low > 0 or e.high < 0 for e in effects])
    assert 0.05 - 3 * 0.0089 <= false <= 0.05 + 3 * 0.0089  # 5 % +- 3 binomial standard deviations


def slope_runs(rng: np.random.Generator, margin: dict[str, float], accuracy: dict[str, float],
               sd: float = 0.05) -> pd.DataFrame:
    """Per run slopes (run_slopes' columns): each loss's planted mean slope plus seed noise."""
    rows = []
    for e in EXPONENTS:
        for x in SHARES:
            for loss in LOSSES:
                for s in SEEDS:
                    rows.append((x, e, f"{loss}.seed{s}", loss, s, margin[loss] + sd * rng.standard_normal(),
                                 {"x2softmax": -0.1, "arcface": 0.0, "cosface": -0.3}[loss],
                                 accuracy[loss] + sd * rng.standard_normal()))
    return pd.DataFrame(rows, columns=M.SLOPE_COLUMNS)


def test_planted_margin_slopes_get_their_directions_and_the_analytic_comparison() -> None:
    slopes = slope_runs(np.random.default_rng(20), {"x2softmax": 0.2, "arcface": 0.0, "cosface": -0.2},
                        {loss: 0.0 for loss in LOSSES})
    table = M.margin_table(slopes, pooled_seed_variance).set_index("loss")
    assert table["realised"].to_dict() == {"arcface": "flat", "cosface": "shrinks", "x2softmax": "grows"}
    assert table["analytic"].to_dict() == {"arcface": "flat", "cosface": "shrinks", "x2softmax": "shrinks"}
    assert table["matches_paper"].all()
    assert table["matches_analytic"].to_dict() == {"arcface": True, "cosface": True, "x2softmax": False}
    assert table.loc["x2softmax", "low"] < 0.2 < table.loc["x2softmax", "high"]
    assert table.loc["x2softmax", "df"] == 12  # 6 worlds x (3 seeds - 1), pooled within the loss


def test_null_margin_slopes_are_flat_at_about_the_stated_rate() -> None:
    rng = np.random.default_rng(13)
    zero = {loss: 0.0 for loss in LOSSES}
    words = [M.margin_table(slope_runs(rng, zero, zero), pooled_seed_variance)["realised"] for _ in range(300)]
    false = np.mean(np.concatenate([w.to_numpy() for w in words]) != "flat")
    assert 0.05 - 3 * 0.0073 <= false <= 0.05 + 3 * 0.0073


def test_close_classes_converging_worse_under_a_fixed_margin_is_found() -> None:
    slopes = slope_runs(np.random.default_rng(14), {loss: 0.0 for loss in LOSSES},
                        {"x2softmax": 0.0, "arcface": 1.0, "cosface": 0.5})
    table = M.convergence_table(slopes, pooled_seed_variance)
    own = table[table["reference"] == ""].set_index("loss")["verdict"].to_dict()
    assert own == {"arcface": M.CLOSE_WORSE, "cosface": M.CLOSE_WORSE, "x2softmax": M.NONE_SLOPE}
    versus = table[table["reference"] == M.X2].set_index("loss")
    assert versus["verdict"].to_dict() == {"arcface": "closeness costs arcface more than X2",
                                           "cosface": "closeness costs cosface more than X2"}
    assert versus.loc["arcface", "effect"] == pytest.approx(1.0, abs=0.1)


def test_least_squares_slope_and_run_slopes() -> None:
    assert M.ls_slope(np.array([0.0, 1.0, 2.0, np.nan]), np.array([1.0, 3.0, 5.0, 0.0])) == pytest.approx(2.0)
    assert np.isnan(M.ls_slope(np.array([1.0, 1.0, 1.0]), np.array([0.0, 1.0, 2.0])))
    angle = np.array([60.0, 70.0, 80.0, 90.0])
    geometry = pd.DataFrame({"lookalike_share": 0.5, "size_exponent": 0.0, "run": "arcface", "loss": "arcface",
                             "seed": 1, "weight_angle_deg": angle, M.KEPT: 0.5 * angle,
                             "analytic_margin_deg": np.full(4, 20.0), "train_accuracy": 0.002 * angle})
    row = M.run_slopes(geometry).iloc[0]
    assert (row["margin_slope"], row["analytic_slope"], row["accuracy_slope"]) == pytest.approx((0.5, 0.0, 2.0))


def test_the_class_probe_measures_kept_margins_and_training_accuracy() -> None:
    # three classes on a circle at 0, 40 and 180 degrees; class 0's features at 10 deg and -5 deg, class 1's at 40 deg
    # and one at 15 deg (past the bisector at 20 deg: misclassified), class 2's at 180 deg
    def unit(deg: float) -> list[float]:
        return [np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))]

    weight = np.array([unit(0), unit(40), unit(180)])
    features = np.array([unit(10), unit(-5), unit(40), unit(15), unit(180)])
    labels = np.array([0, 0, 1, 1, 2])
    table = class_probe(features, labels, weight, "arcface", {"s": 6.0, "m": 0.2}).set_index("class_id")
    assert table["nearest_class"].tolist() == [1, 0, 1]
    assert table["weight_angle_deg"].tolist() == pytest.approx([40.0, 40.0, 140.0])
    assert table.loc[0, "kept_margin_deg"] == pytest.approx(10.0)  # 10 deg feature: 10 deg short of the bisector
    assert table.loc[1, "kept_margin_deg"] == pytest.approx(-5.0)  # 15 deg: 5 deg on class 0's side
    assert table["train_accuracy"].tolist() == [1.0, 0.5, 1.0]
    assert table["count"].tolist() == [2, 2, 1]
    assert np.isfinite(table["analytic_margin_deg"]).all()
