"""Intervals of trained-model comparisons that carry training noise: a pooled between-seed variance and a t interval.

A comparison of two losses (X2 minus a baseline, an ablation, a 1:N rival) on one benchmark, protocol and metric,
over its n common training seeds, has the point difference d (the mean of the per-seed differences):
d = true difference + training noise + test-set noise.

- Test-set noise: V_test, the variance of the test-set bootstrap replicates of d (the same resampling weights for
  every run and seed compared; `x2softmax.evaluate.bootstrap`).
- Training noise: the between-seed variance of one trained run, pooled over the losses trained with two seeds or
  more on the same benchmark, protocol and metric: s² = sum over losses and seeds of (y − loss mean)² / df, with
  df = sum over those losses of (seeds − 1) (`pooled_seed_variance`). The model assumes that every loss has the
  same seed variance and that two losses' training noise is independent; it applies to single-seed comparisons
  too. Measured on one test set, the seed spread of a difference, 2 s², also holds the part of the test-set noise
  that differs between networks (which pairs each network gets wrong), the test-set variance V_1 of one seed's
  paired difference; so the training part of d is V_train = max(2 s² − V_1, 0) / n (V_1 averaged over the seeds).
- Interval (`trained_interval`): d ± t(ν) · sqrt(V_test + V_train), t at the 97.5 % point of Student's t with the
  Welch–Satterthwaite degrees of freedom of the estimated seed spread, ν = df · ((V_test + V_train) / (2 s² / n))²
  (the test-set variances counted as exactly known).
- Without a pooled estimate (no loss with two seeds) the interval is the test-set percentile interval, labelled
  TEST_ONLY: training noise was not measured.

Its coverage on simulated runs with a known seed spread and test-set noise is measured by
`x2softmax.evaluate.coverage.seed_coverage` (bench/coverage.py, tests/evaluate/test_eval_coverage.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from x2softmax.evaluate.bootstrap import percentile_interval

LEVEL = 0.95
TEST_ONLY = "test-set noise only: training noise not measured (no loss trained with two seeds)"


class SeedPool(NamedTuple):
    """The pooled between-seed variance of one trained run, its degrees of freedom and the losses it pools."""

    variance: float
    df: int
    losses: tuple[str, ...]


class TrainedInterval(NamedTuple):
    """A comparison's interval, its degrees of freedom (inf: test-set only) and its two variance components."""

    low: float
    high: float
    df: float
    test_var: float
    train_var: float


def t_quantile(probability: float, df: float) -> float:
    """Student's t quantile, SciPy's (imported here, on first use: the toy jobs import this module, never call it,
    and scipy.stats costs them 0.8 CPU-s each)."""
    from scipy.stats import t as student_t

    return float(student_t.ppf(probability, df))


def pooled_seed_variance(values: Mapping[str, Sequence[float]]) -> SeedPool:
    """The pooled sample variance over the seeds of each loss (loss -> per-seed values; NaN values left out) of the
    losses with two finite values or more; SeedPool(nan, 0, ()) when there is none."""
    squares, df, losses = 0.0, 0, []
    for loss, seed_values in values.items():
        finite = np.asarray(seed_values, dtype=float)
        finite = finite[np.isfinite(finite)]
        if len(finite) < 2:
            continue
        squares += float(((finite - finite.mean()) ** 2).sum())
        df += len(finite) - 1
        losses.append(loss)
    return SeedPool(squares / df if df else math.nan, df, tuple(losses))


def trained_interval(difference: float, seed_replicates: np.ndarray, pool: SeedPool,
                     level: float = LEVEL) -> TrainedInterval:
    """The interval of a seed-mean difference (module docstring) from the test-set bootstrap replicates of each
    common seed's difference [B, seeds] (the same resampling weights for every seed) and the pooled seed variance;
    the test-set percentile interval of the seed mean without a pool. A replicate whose statistic is undefined (NaN
    at some seed: e.g. a 1:N resample that drew no non-mated probe of a gallery) is left out, as
    `percentile_interval` leaves it out; fewer than two defined replicates give no interval."""
    reps = np.asarray(seed_replicates, dtype=float)
    reps = reps[:, None] if reps.ndim == 1 else reps
    reps = reps[np.isfinite(reps).all(axis=1)]
    if math.isnan(difference) or len(reps) < 2:
        return TrainedInterval(math.nan, math.nan, math.nan, math.nan, math.nan)
    n_seeds = reps.shape[1]
    mean = reps.mean(axis=1)
    test_var = float(mean.var(ddof=1)) if len(mean) > 1 else 0.0
    if pool.df < 1 or math.isnan(pool.variance):
        low, high = (float(v) for v in percentile_interval(mean, level))
        return TrainedInterval(low, high, math.inf, test_var, math.nan)
    seed_test_var = float(reps.var(axis=0, ddof=1).mean()) if len(reps) > 1 else 0.0
    spread = 2.0 * pool.variance / n_seeds  # the seed spread of a difference on this test set, over n seeds
    train_var = max(spread - seed_test_var / n_seeds, 0.0)
    df = pool.df * ((test_var + train_var) / spread) ** 2 if spread > 0 else math.inf
    half = t_quantile(0.5 + level / 2.0, df) * math.sqrt(test_var + train_var)
    return TrainedInterval(difference - half, difference + half, df, test_var, train_var)


def rerun_half_width(pool: SeedPool, level: float = LEVEL) -> float:
    """Half-width of the interval of one number's change when every network is retrained (a rerun, another machine)
    on the same test set: t(df) · sqrt(2 s²), the seed spread of two trainings (NaN without a pool)."""
    if pool.df < 1 or math.isnan(pool.variance):
        return math.nan
    return t_quantile(0.5 + level / 2.0, pool.df) * math.sqrt(2.0 * pool.variance)


def interval_contents(pool: SeedPool) -> str:
    """What a comparison's interval holds, in words (the note of its row)."""
    if pool.df < 1:
        return TEST_ONLY
    return (f"test-set noise and training noise: between-seed variance pooled over {', '.join(pool.losses)} "
            f"({pool.df} df), equal seed variance across losses assumed")


def rerun_change_rate(level: float = LEVEL) -> float:
    """The chance that two independent reruns give different verdicts on a comparison with no true difference: each
    rerun's interval misses 0 with chance 1 − level (≈ 2 × 5 %)."""
    miss = 1.0 - level
    return 1.0 - ((1.0 - miss) ** 2 + 2 * (miss / 2.0) ** 2)
