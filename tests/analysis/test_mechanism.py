"""The dose-response analysis of the controlled study (issue 36): a planted slope is found, a null is reported as no
detectable difference at about the stated error rate, and the preset's worlds are valid generator settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest

from x2softmax.analysis import mechanism as M
from x2softmax.analysis.worlds import worlds as study_worlds
from x2softmax.config import load_config
from x2softmax.data.synthetic.settings import resolve_config

SHARES, EXPONENTS, SEEDS = (0.25, 0.5, 1.0), (0.0, 2.0), (2048, 2049, 2050)


class Pool(NamedTuple):
    variance: float
    df: int


def residual_pool(values: Mapping[str, Sequence[float]]) -> Pool:
    """An independent pooled seed variance: the residual mean square of a least-squares fit with one mean per key."""
    groups = [np.asarray(v, float) for v in values.values() if len(v) >= 2]
    y = np.concatenate(groups)
    design = np.zeros((len(y), len(groups)))
    design[np.arange(len(y)), np.repeat(np.arange(len(groups)), [len(g) for g in groups])] = 1.0
    residual = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    df = len(y) - len(groups)
    return Pool(float(residual @ residual) / df, df)


def simulated_runs(rng: np.random.Generator, slope: float, sd: float = 0.5) -> pd.DataFrame:
    """Per-run accuracies: a world effect, a loss effect, X2's advantage of `slope` x share, seed noise of `sd`."""
    rows = []
    for e in EXPONENTS:
        for x in SHARES:
            world = 90.0 - 5.0 * x - e
            for loss, offset in (("arcface", 0.3), ("cosface", -0.2), (M.X2, slope * x)):
                rows += [(x, e, loss, s, world + offset + sd * rng.standard_normal()) for s in SEEDS]
    return pd.DataFrame(rows, columns=M.COLUMNS)


def test_a_planted_slope_is_detected_and_covered() -> None:
    rng = np.random.default_rng(0)
    results = [M.dose_response(simulated_runs(rng, slope=3.0), "arcface", residual_pool) for _ in range(200)]
    assert np.mean([r.verdict == M.GROWS for r in results]) > 0.95
    assert 0.9 < np.mean([r.low <= 3.0 <= r.high for r in results]) <= 1.0
    first = results[0]
    assert first.worlds == 6 and first.df == 36  # 18 loss-world cells of 3 seeds
    negative = M.dose_response(simulated_runs(rng, slope=-3.0), "cosface", residual_pool)
    assert negative.verdict == M.SHRINKS and negative.high < 0


def test_a_null_is_no_detectable_difference_at_about_the_stated_rate() -> None:
    rng = np.random.default_rng(1)
    verdicts = [M.dose_response(simulated_runs(rng, slope=0.0), "arcface", residual_pool).verdict for _ in range(1000)]
    false = np.mean([v != M.NONE for v in verdicts])
    assert 0.029 <= false <= 0.071  # 5 % +- 3 binomial standard deviations over 1,000 simulations


def test_the_slope_is_the_least_squares_slope_within_imbalance_levels() -> None:
    runs = simulated_runs(np.random.default_rng(2), slope=2.0)
    result = M.dose_response(runs, "arcface", residual_pool)
    means = runs.groupby(["size_exponent", "lookalike_share", "loss"])["value"].mean().unstack("loss")
    d = (means[M.X2] - means["arcface"]).reset_index(name="d")
    x = pd.get_dummies(d["size_exponent"]).astype(float).assign(share=d["lookalike_share"])
    assert result.slope == pytest.approx(np.linalg.lstsq(x.to_numpy(), d["d"].to_numpy(), rcond=None)[0][-1])
    table = M.dose_response_table(runs, residual_pool)
    assert table["baseline"].tolist() == list(M.BASELINES)


def test_bad_runs_name_the_source_and_what_is_wrong() -> None:
    runs = simulated_runs(np.random.default_rng(3), slope=0.0)
    with pytest.raises(ValueError, match="runs.csv: missing columns \\['seed'\\]"):
        M.dose_response(runs.drop(columns="seed"), "arcface", residual_pool, source="runs.csv")
    with pytest.raises(ValueError, match="runs.csv: more than one value"):
        M.dose_response(pd.concat([runs, runs.head(1)]), "arcface", residual_pool, source="runs.csv")


def test_one_world_gives_no_slope() -> None:
    runs = simulated_runs(np.random.default_rng(4), slope=1.0)
    one = runs[runs["lookalike_share"] == 0.5]
    assert M.dose_response(one, "arcface", residual_pool).verdict == M.NONE


def test_the_mechanism_preset_grid_is_six_valid_worlds() -> None:
    config = load_config("mechanism")
    worlds = study_worlds(config)
    assert [w.name for w in worlds] == [f"share{x:g}_tail{e:g}" for e in EXPONENTS for x in SHARES]
    for world in worlds:
        train = resolve_config(world.synthetic)["train"]
        assert (train["lookalike_share"], train["size_exponent"]) in {(x, e) for x in SHARES for e in EXPONENTS}
    assert study_worlds(load_config()) == []
