"""The controlled study of adaptive margins (issue 36): does X2-Softmax's advantage over a fixed-margin loss grow
with the share of look-alike identities in the training world (a dose-response slope)?

Input: one row per trained run and metric, in controlled worlds that differ only in the training population's
look-alike share (`train.lookalike_share`) and class-size imbalance (`train.size_exponent`). Per imbalance level g
and look-alike share x, the advantage is the difference of the seed means of X2 and the baseline, d(g, x). The
dose-response slope is the least-squares slope of d against x within each imbalance level, pooled over the levels:
slope = sum over cells of c(g, x) d(g, x), c(g, x) = (x − mean_g x) / sum over cells of (x − mean_g x)².

Its interval carries training noise: every run's value is its world's and loss's mean plus seed noise of one
variance s², pooled over every loss and world with two seeds or more (equal seed variance across losses and worlds
assumed), with its degrees of freedom. Var(slope) = s² sum c² (1/n_X2 + 1/n_baseline) (n: seeds of each cell), and
the interval is slope ± t(df) sqrt(Var). The test sets are the same in every world, so their shared part cancels in
a difference; the part that differs between networks is in the seed spread. The pooled variance comes from a
`SeedPool` function (`Mapping[str, Sequence[float]] -> (variance, df)`, the interface of issue 31's
`x2softmax.evaluate.seeds.pooled_seed_variance`), passed in by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, Protocol

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from x2softmax.losses import SUBJECT

LEVEL = 0.95
X2 = SUBJECT
BASELINES = ("arcface", "cosface")  # the paper's fixed-margin rivals
COLUMNS = ("lookalike_share", "size_exponent", "loss", "seed", "value")
GROWS, SHRINKS, NONE = "X2's advantage grows with the look-alike share", \
    "X2's advantage shrinks with the look-alike share", "no detectable dose-response"


class PoolLike(Protocol):
    """What a seed pool returns: the pooled between-seed variance and its degrees of freedom."""

    variance: float
    df: int


SeedPool = Callable[[Mapping[str, Sequence[float]]], PoolLike]


class DoseResponse(NamedTuple):
    """The slope of X2's advantage over one baseline against the look-alike share, its interval and verdict."""

    baseline: str
    slope: float
    low: float
    high: float
    df: float
    worlds: int
    verdict: str


class World(NamedTuple):
    """One controlled world: its name and the generator overrides (data.synthetic with its train settings set)."""

    name: str
    synthetic: dict


def worlds(config: Mapping) -> list[World]:
    """The study's worlds of a resolved config (its `mechanism` grid over data.synthetic): every look-alike share
    crossed with every long-tail exponent, named share{x}_tail{e}; [] without a grid."""
    grid = config.get("mechanism")
    if not grid:
        return []
    base = config["data"]["synthetic"]
    out = []
    for exponent in grid["size_exponents"]:
        for share in grid["lookalike_shares"]:
            train = {**base.get("train", {}), "lookalike_share": float(share), "size_exponent": float(exponent)}
            out.append(World(f"share{share:g}_tail{exponent:g}", {**base, "train": train}))
    return out


def _check(runs: pd.DataFrame, source: str) -> None:
    missing = [c for c in COLUMNS if c not in runs.columns]
    if missing:
        raise ValueError(f"{source}: missing columns {missing} (need {list(COLUMNS)})")
    if runs.duplicated(["lookalike_share", "size_exponent", "loss", "seed"]).any():
        raise ValueError(f"{source}: more than one value for a (lookalike_share, size_exponent, loss, seed)")


def dose_response(runs: pd.DataFrame, baseline: str, pool: SeedPool, level: float = LEVEL,
                  source: str = "mechanism runs") -> DoseResponse:
    """The dose-response slope of X2's advantage over `baseline` (module docstring) from per-run values of one metric
    (columns COLUMNS), its t interval with the pooled seed variance of every loss and world, and its verdict."""
    _check(runs, source)
    finite = runs[np.isfinite(runs["value"].to_numpy(float))]
    cells = finite.groupby(["size_exponent", "lookalike_share", "loss"])["value"]
    means, counts = cells.mean(), cells.count()
    worlds = sorted({(g, x) for g, x, loss in means.index if loss == X2} & {(g, x) for g, x, loss in means.index
                                                                               if loss == baseline})
    groups = pd.DataFrame(worlds, columns=["g", "x"])
    centred = (groups["x"] - groups.groupby("g")["x"].transform("mean")).to_numpy(float)
    spread = float((centred**2).sum())
    pooled = pool({f"{loss}@{g}@{x}": values.tolist() for (g, x, loss), values in cells})
    if not worlds or spread == 0.0 or not pooled.df or math.isnan(pooled.variance):
        return DoseResponse(baseline, math.nan, math.nan, math.nan, math.nan, len(worlds), NONE)
    c = centred / spread
    d = np.array([means[(g, x, X2)] - means[(g, x, baseline)] for g, x in worlds])
    n = np.array([1.0 / counts[(g, x, X2)] + 1.0 / counts[(g, x, baseline)] for g, x in worlds])
    slope = float(c @ d)
    half = float(student_t.ppf(0.5 + level / 2.0, pooled.df)) * math.sqrt(pooled.variance * float((c**2) @ n))
    low, high = slope - half, slope + half
    verdict = GROWS if low > 0 else SHRINKS if high < 0 else NONE
    return DoseResponse(baseline, slope, low, high, float(pooled.df), len(worlds), verdict)


def dose_response_table(runs: pd.DataFrame, pool: SeedPool, baselines: Sequence[str] = BASELINES,
                        level: float = LEVEL) -> pd.DataFrame:
    """One row per baseline: the dose-response slope, its interval, degrees of freedom, worlds and verdict."""
    return pd.DataFrame([dose_response(runs, b, pool, level) for b in baselines], columns=DoseResponse._fields)
