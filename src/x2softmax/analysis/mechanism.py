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

The other questions use the same rule (`weighted_effect`: a weighted sum of cell means, its variance s² sum w²/n
with s² pooled over the cells' seeds, a t interval):
- look-alike pairs at equal overall accuracy (`lookalike_effects`): per baseline, the mean over worlds of X2 minus the
  baseline in look-alike-impostor accuracy and in overall accuracy, and the look-alike difference adjusted for
  overall accuracy, L = world + loss + beta A + noise fitted by least squares over both losses' runs (its interval
  from the fit's residual variance, the seed noise left once A is known, and its residual degrees of freedom);
- realised margin against the inter-class angle (`slope_effects` of per-run slopes, `geometry_slopes`): per loss,
  the mean over worlds of each run's least-squares slope of its classes' kept margin on the angle to the nearest
  class weight, with the analytic curve's slope over the same angles (page 01's two-class margin at each class's
  angle) and the paper's direction (X2 grows, ArcFace flat, CosFace shrinks);
- convergence of close classes (`slope_effects` of the slope of per-class training accuracy on that angle): per
  loss, and each fixed-margin loss minus X2.
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
NONE_SLOPE, NONE_DIFFERENCE = "no detectable slope", "no detectable difference"


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


def _check(runs: pd.DataFrame, source: str) -> None:
    missing = [c for c in COLUMNS if c not in runs.columns]
    if missing:
        raise ValueError(f"{source}: missing columns {missing} (need {list(COLUMNS)})")
    if runs.duplicated(["lookalike_share", "size_exponent", "loss", "seed"]).any():
        raise ValueError(f"{source}: more than one value for a (lookalike_share, size_exponent, loss, seed)")


class Effect(NamedTuple):
    """An effect, its interval and the degrees of freedom of its variance."""

    effect: float
    low: float
    high: float
    df: float


NO_EFFECT = Effect(math.nan, math.nan, math.nan, math.nan)


def weighted_effect(cells: Mapping[str, Sequence[float]], weights: Mapping[str, float], pool: SeedPool,
                    level: float = LEVEL) -> Effect:
    """sum of w x (mean of a cell) over the weighted cells, and its t interval with the seed variance pooled over
    every cell of `cells` (module docstring); NaN where a weighted cell has no finite value, no interval without a
    pooled estimate."""
    values = {key: np.asarray(v, float)[np.isfinite(np.asarray(v, float))] for key, v in cells.items()}
    if not weights or any(len(values.get(key, ())) == 0 for key in weights):
        return NO_EFFECT
    effect = float(sum(w * values[key].mean() for key, w in weights.items()))
    pooled = pool({key: v.tolist() for key, v in values.items()})
    if not pooled.df or math.isnan(pooled.variance):
        return Effect(effect, math.nan, math.nan, math.nan)
    variance = pooled.variance * sum(w * w / len(values[key]) for key, w in weights.items())
    half = float(student_t.ppf(0.5 + level / 2.0, pooled.df)) * math.sqrt(variance)
    return Effect(effect, effect - half, effect + half, float(pooled.df))


def direction(effect: Effect, up: str, down: str, none: str) -> str:
    """`up` when the interval lies above 0, `down` below it, else `none` (also without an interval)."""
    return up if effect.low > 0 else down if effect.high < 0 else none


def _cell(loss: str, g: float, x: float) -> str:
    return f"{loss}@{g:g}@{x:g}"


def _cells(runs: pd.DataFrame, column: str = "value") -> dict[str, list[float]]:
    """Per (loss, size_exponent, lookalike_share) cell, the values of its runs."""
    return {_cell(loss, g, x): values.tolist()
            for (loss, g, x), values in runs.groupby(["loss", "size_exponent", "lookalike_share"])[column]}


def _worlds_of(runs: pd.DataFrame, *losses: str) -> list[tuple[float, float]]:
    """The (size_exponent, lookalike_share) worlds where every loss named has a finite value."""
    finite = runs[np.isfinite(runs["value"].to_numpy(float))]
    sets = [set(map(tuple, finite.loc[finite["loss"] == loss, ["size_exponent", "lookalike_share"]].to_numpy()))
            for loss in losses]
    return sorted(set.intersection(*sets)) if sets else []


def dose_response(runs: pd.DataFrame, baseline: str, pool: SeedPool, level: float = LEVEL,
                  source: str = "mechanism runs") -> DoseResponse:
    """The dose-response slope of X2's advantage over `baseline` (module docstring) from per-run values of one metric
    (columns COLUMNS), its t interval with the pooled seed variance of every loss and world, and its verdict."""
    _check(runs, source)
    worlds = _worlds_of(runs, X2, baseline)
    groups = pd.DataFrame(worlds, columns=["g", "x"], dtype=float)
    centred = (groups["x"] - groups.groupby("g")["x"].transform("mean")).to_numpy(float)
    spread = float((centred**2).sum())
    if not worlds or spread == 0.0:
        return DoseResponse(baseline, math.nan, math.nan, math.nan, math.nan, len(worlds), NONE)
    weights = {}
    for (g, x), c in zip(worlds, centred / spread):
        weights[_cell(X2, g, x)], weights[_cell(baseline, g, x)] = c, -c
    effect = weighted_effect(_cells(runs), weights, pool, level)
    if math.isnan(effect.df):
        return DoseResponse(baseline, math.nan, math.nan, math.nan, math.nan, len(worlds), NONE)
    return DoseResponse(baseline, effect.effect, effect.low, effect.high, effect.df, len(worlds),
                        direction(effect, GROWS, SHRINKS, NONE))


def dose_response_table(runs: pd.DataFrame, pool: SeedPool, baselines: Sequence[str] = BASELINES,
                        level: float = LEVEL) -> pd.DataFrame:
    """One row per baseline: the dose-response slope, its interval, degrees of freedom, worlds and verdict."""
    return pd.DataFrame([dose_response(runs, b, pool, level) for b in baselines], columns=DoseResponse._fields)


def world_differences(runs: pd.DataFrame, baseline: str, pool: SeedPool, level: float = LEVEL) -> pd.DataFrame:
    """Per world, X2 minus `baseline` (cell means of `runs`' COLUMNS) with its t interval, the seed variance pooled
    over every loss and world (the points of the dose-response figure)."""
    cells, rows = _cells(runs), []
    for g, x in _worlds_of(runs, X2, baseline):
        effect = weighted_effect(cells, {_cell(X2, g, x): 1.0, _cell(baseline, g, x): -1.0}, pool, level)
        rows.append((g, x, *effect[:3]))
    return pd.DataFrame(rows, columns=["size_exponent", "lookalike_share", "difference", "low", "high"])


def mean_difference(runs: pd.DataFrame, loss: str, reference: str, pool: SeedPool, level: float = LEVEL) -> Effect:
    """The mean over worlds of loss minus reference (cell means of `runs`' COLUMNS), the seed variance pooled over
    every loss and world of `runs`."""
    worlds = _worlds_of(runs, loss, reference)
    weights = {}
    for g, x in worlds:
        weights[_cell(loss, g, x)], weights[_cell(reference, g, x)] = 1.0 / len(worlds), -1.0 / len(worlds)
    return weighted_effect(_cells(runs), weights, pool, level)


def adjusted_difference(runs: pd.DataFrame, baseline: str, level: float = LEVEL) -> Effect:
    """X2 minus `baseline` in look-alike accuracy at equal overall accuracy: the loss coefficient of
    lookalike = world + loss + beta x overall, least squares over both losses' runs (columns lookalike_share,
    size_exponent, loss, lookalike, overall), with its t interval from the residual variance and degrees of freedom."""
    both = runs[runs["loss"].isin([X2, baseline])].dropna(subset=["lookalike", "overall"])
    worlds = both["size_exponent"].astype(str) + "@" + both["lookalike_share"].astype(str)
    design = np.column_stack([pd.get_dummies(worlds).to_numpy(float), (both["loss"] == X2).to_numpy(float),
                              both["overall"].to_numpy(float)])
    y = both["lookalike"].to_numpy(float)
    rank = np.linalg.matrix_rank(design) if len(y) else 0
    if len(y) == 0 or rank < design.shape[1] or len(y) <= rank:
        return NO_EFFECT
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    df = len(y) - rank
    variance = float(residual @ residual) / df * float(np.linalg.inv(design.T @ design)[-2, -2])
    half = float(student_t.ppf(0.5 + level / 2.0, df)) * math.sqrt(variance)
    effect = float(coef[-2])
    return Effect(effect, effect - half, effect + half, float(df))


LOOKALIKE_COLUMNS = ("baseline", "quantity", "effect", "low", "high", "df", "verdict")
LOOKALIKE_QUANTITIES = ("look-alike impostor accuracy", "overall accuracy",
                        "look-alike impostor accuracy at equal overall accuracy")


def lookalike_table(runs: pd.DataFrame, pool: SeedPool, baselines: Sequence[str] = BASELINES,
                    level: float = LEVEL) -> pd.DataFrame:
    """Per baseline, X2 minus the baseline (percentage points, mean over worlds) in look-alike-impostor accuracy, in
    overall accuracy, and in look-alike accuracy at equal overall accuracy (`adjusted_difference`), with verdicts;
    `runs`: one row per run with columns lookalike_share, size_exponent, loss, seed, lookalike, overall."""
    rows = []
    for baseline in baselines:
        for quantity, effect in zip(LOOKALIKE_QUANTITIES, (
                mean_difference(runs.assign(value=runs["lookalike"]), X2, baseline, pool, level),
                mean_difference(runs.assign(value=runs["overall"]), X2, baseline, pool, level),
                adjusted_difference(runs, baseline, level))):
            rows.append((baseline, quantity, *effect, direction(effect, "X2 higher", "X2 lower",
                                                                 "no detectable difference")))
    return pd.DataFrame(rows, columns=LOOKALIKE_COLUMNS)


def ls_slope(x: np.ndarray, y: np.ndarray) -> float:
    """The least-squares slope of y on x over the finite points (NaN with fewer than 3 or no spread in x)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or float(np.ptp(x)) == 0.0:
        return math.nan
    centred = x - x.mean()
    return float(centred @ (y - y.mean()) / (centred @ centred))


KEPT = "kept_margin_q10_deg"  # the realised margin of a class: the angle to the boundary 90 % of its features keep
SLOPE_COLUMNS = ("lookalike_share", "size_exponent", "run", "loss", "seed", "margin_slope", "analytic_slope",
                 "accuracy_slope")


def run_slopes(geometry: pd.DataFrame) -> pd.DataFrame:
    """Per run (geometry: one row per world, run and class, `probe.GEOMETRY_COLUMNS` with the world's
    lookalike_share and size_exponent): the slopes on the angle to the nearest class weight of the kept margin (deg
    per deg), of the analytic two-class margin at the same angles, and of training accuracy (points per 10 deg)."""
    rows = []
    keys = ["lookalike_share", "size_exponent", "run", "loss", "seed"]
    for key, classes in geometry.groupby(keys, sort=True):
        angle = classes["weight_angle_deg"].to_numpy(float)
        rows.append((*key, ls_slope(angle, classes[KEPT]), ls_slope(angle, classes["analytic_margin_deg"]),
                     1000.0 * ls_slope(angle, classes["train_accuracy"])))
    return pd.DataFrame(rows, columns=SLOPE_COLUMNS)


BIN_DEG = 5.0  # width of the angle bins of the page's curves


def angle_bins(geometry: pd.DataFrame) -> pd.DataFrame:
    """Per loss and BIN_DEG bin of the angle to the nearest class weight (geometry as `run_slopes`): the classes in
    it (over every run and world) and their mean kept margin, analytic margin and training accuracy."""
    binned = geometry.assign(angle_bin=BIN_DEG * np.floor(geometry["weight_angle_deg"] / BIN_DEG) + BIN_DEG / 2)
    grouped = binned.groupby(["loss", "angle_bin"])
    return pd.DataFrame({"classes": grouped.size(), "kept_margin_deg": grouped[KEPT].mean(),
                         "analytic_margin_deg": grouped["analytic_margin_deg"].mean(),
                         "train_accuracy": grouped["train_accuracy"].mean()}).reset_index()


PAPER_DIRECTION = {SUBJECT: "grows", "arcface": "flat", "cosface": "shrinks"}  # the paper's reading of page 01
FLAT = 0.01  # deg per deg: an analytic slope below this in size counts as flat
MARGIN_COLUMNS = ("loss", "realised_slope", "low", "high", "df", "runs", "analytic_slope", "realised", "analytic",
                  "paper", "matches_analytic", "matches_paper")


def loss_mean(slopes: pd.DataFrame, column: str, loss: str, pool: SeedPool, level: float = LEVEL) -> Effect:
    """The mean over worlds of one loss's per-run `column`, its seed variance pooled over that loss's worlds."""
    runs = slopes[slopes["loss"] == loss].assign(value=lambda f: f[column])
    worlds = _worlds_of(runs, loss)
    return weighted_effect(_cells(runs), {_cell(loss, g, x): 1.0 / len(worlds) for g, x in worlds}, pool, level)


def _word(effect: Effect) -> str:
    return direction(effect, "grows", "shrinks", "flat")


def margin_table(slopes: pd.DataFrame, pool: SeedPool, level: float = LEVEL) -> pd.DataFrame:
    """Per loss, the realised margin's slope on the inter-class angle (mean over worlds, interval, direction: grows,
    shrinks or flat) next to the analytic curve's slope and direction over the same angles and the paper's direction,
    and whether the realised direction matches each."""
    rows = []
    for loss in sorted(set(slopes["loss"])):
        effect = loss_mean(slopes, "margin_slope", loss, pool, level)
        analytic = float(slopes.loc[slopes["loss"] == loss, "analytic_slope"].mean())
        analytic_word = ("no fixed margin" if math.isnan(analytic) else
                         "grows" if analytic > FLAT else "shrinks" if analytic < -FLAT else "flat")
        realised, paper = _word(effect), PAPER_DIRECTION.get(loss, "not stated")
        rows.append((loss, *effect[:3], effect.df, int((slopes["loss"] == loss).sum()), analytic, realised,
                     analytic_word, paper, realised == analytic_word, realised == paper))
    return pd.DataFrame(rows, columns=MARGIN_COLUMNS)


CONVERGENCE_COLUMNS = ("loss", "reference", "effect", "low", "high", "df", "verdict")
CLOSE_WORSE, CLOSE_BETTER = "close classes converge worse", "close classes converge better"


def convergence_table(slopes: pd.DataFrame, pool: SeedPool, baselines: Sequence[str] = BASELINES,
                      level: float = LEVEL) -> pd.DataFrame:
    """Per loss, the slope of per-class training accuracy on the angle to the nearest class (points per 10 deg, mean
    over worlds; > 0: close classes converge worse); per fixed-margin loss, its slope minus X2's."""
    rows = []
    for loss in sorted(set(slopes["loss"])):
        effect = loss_mean(slopes, "accuracy_slope", loss, pool, level)
        rows.append((loss, "", *effect, direction(effect, CLOSE_WORSE, CLOSE_BETTER, NONE_SLOPE)))
    for baseline in baselines:
        effect = mean_difference(slopes.assign(value=slopes["accuracy_slope"]), baseline, X2, pool, level)
        rows.append((baseline, X2, *effect, direction(effect, f"closeness costs {baseline} more than X2",
                                                      f"closeness costs {baseline} less than X2", NONE_DIFFERENCE)))
    return pd.DataFrame(rows, columns=CONVERGENCE_COLUMNS)
