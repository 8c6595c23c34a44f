"""The interval with training noise: the pooled seed variance, the t interval, its fallback without seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import t as student_t

from x2softmax.evaluate.bootstrap import percentile_interval
from x2softmax.evaluate.seeds import (TEST_ONLY, SeedPool, interval_contents, pooled_seed_variance,
                                      rerun_change_rate, rerun_half_width, trained_interval)


def test_pooled_variance_by_hand():
    pool = pooled_seed_variance({"a": [1.0, 2.0, 3.0], "b": [10.0, 14.0], "c": [5.0], "d": [2.0, math.nan]})
    assert pool.df == 3 and pool.losses == ("a", "b")  # c and d: one finite value, nothing to pool
    assert pool.variance == pytest.approx((1 + 0 + 1 + 4 + 4) / 3)
    empty = pooled_seed_variance({"a": [1.0]})
    assert empty.df == 0 and math.isnan(empty.variance) and empty.losses == ()


def test_trained_interval_by_hand():
    rng = np.random.default_rng(0)
    reps = rng.normal(0.0, [0.3, 0.4, 0.5], (2000, 3))  # [B, 3 seeds]
    pool = SeedPool(0.8, 6, ("x", "y", "z"))
    got = trained_interval(1.0, reps, pool)
    test_var = reps.mean(axis=1).var(ddof=1)
    spread = 2 * 0.8 / 3
    train_var = spread - reps.var(axis=0, ddof=1).mean() / 3
    df = 6 * ((test_var + train_var) / spread) ** 2
    half = student_t.ppf(0.975, df) * math.sqrt(test_var + train_var)
    assert (got.test_var, got.train_var) == (pytest.approx(test_var), pytest.approx(train_var))
    assert got.df == pytest.approx(df) and 6 <= got.df
    assert (got.low, got.high) == (pytest.approx(1.0 - half), pytest.approx(1.0 + half))


def test_seed_spread_below_the_test_noise_adds_nothing():
    reps = np.random.default_rng(1).normal(0.0, 2.0, (500, 1))
    got = trained_interval(0.5, reps, SeedPool(0.1, 4, ("x", "y")))  # 2 s² = 0.2 < V_1 ≈ 4
    assert got.train_var == 0.0
    assert got.high - 0.5 == pytest.approx(student_t.ppf(0.975, got.df) * math.sqrt(got.test_var))


def test_without_a_pool_the_test_set_percentile_interval():
    reps = np.random.default_rng(2).normal(0.0, 1.0, (400, 2))
    got = trained_interval(0.2, reps, SeedPool(math.nan, 0, ()))
    low, high = percentile_interval(reps.mean(axis=1))
    assert (got.low, got.high) == (pytest.approx(float(low)), pytest.approx(float(high))) and got.df == math.inf
    assert interval_contents(SeedPool(math.nan, 0, ())) == TEST_ONLY
    assert "pooled over x, y (4 df)" in interval_contents(SeedPool(1.0, 4, ("x", "y")))
    assert math.isnan(trained_interval(math.nan, reps, SeedPool(1.0, 4, ("x",))).low)


def test_replicates_with_an_undefined_statistic_are_left_out():
    reps = np.random.default_rng(3).normal(0.0, 1.0, (400, 2))
    holed = reps.copy()
    holed[::7, 1] = np.nan  # e.g. 1:N resamples that drew no non-mated probe of a gallery at the second seed
    pool = SeedPool(0.5, 4, ("x", "y"))
    assert trained_interval(0.1, holed, pool) == trained_interval(0.1, reps[np.isfinite(holed).all(axis=1)], pool)
    assert math.isfinite(trained_interval(0.1, holed, pool).low)
    assert math.isnan(trained_interval(0.1, np.full((5, 2), np.nan), pool).low)  # nothing defined: no interval


def test_rerun_change_rate_is_about_twice_the_error_rate():
    assert rerun_change_rate(0.95) == pytest.approx(1 - (0.95 ** 2 + 2 * 0.025 ** 2))
    assert 0.09 < rerun_change_rate(0.95) < 0.10


def test_rerun_half_width_is_two_trainings_apart():
    assert rerun_half_width(SeedPool(0.5, 4, ("x", "y"))) == pytest.approx(student_t.ppf(0.975, 4) * 1.0)
    assert math.isnan(rerun_half_width(SeedPool(math.nan, 0, ())))
