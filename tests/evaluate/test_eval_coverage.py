"""Coverage of the bootstrap intervals on simulated sets with known truth, and planted too-narrow/too-wide intervals
that the check must catch (bench/coverage.py runs the full-size simulation that the stated coverages come from)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from x2softmax.evaluate import bootstrap, coverage, seeds
from x2softmax.evaluate.coverage import (CALIBRATED, STATED_COVERAGE, Coverage, IjbDesign, SeedDesign,
                                         VerificationDesign, ijb_replicates, seed_replicates, verification_replicates)

N_SETS, N_BOOT = 200, 150  # 150 replicates as the stated coverages' bench run; bands of 3 binomial SEs
INNER = 0.80  # calibrated methods are also checked at the 80 % level, where a too-wide interval shows plainly
DESIGNS = {"verification": None, "IJB weak templates": 0.05, "IJB strong templates": 0.5}


def coverage_failures(measured: dict[str, Coverage], stated: dict[str, float], labels: dict[str, str],
                      z: float = 3.0) -> list[str]:
    """One line per method ("method: why") whose measured coverage lies further than z binomial SEs (at least 1.5
    points) from its stated coverage, or whose stated coverage is outside CALIBRATED without a label."""
    failures = []
    for method, result in measured.items():
        want = stated[method]
        half = max(0.015, z * math.sqrt(want * (1.0 - want) / result.n_sets))
        if abs(result.covered - want) > half:
            failures.append(f"{method}: coverage {result.covered:.3f} over {result.n_sets} sets, stated {want:.3f} "
                            f"± {half:.3f}")
        if not CALIBRATED[0] <= want <= CALIBRATED[1] and method not in labels:
            failures.append(f"{method}: stated coverage {want:.3f} outside {CALIBRATED} and not labelled")
    return failures


def _simulate(name: str) -> coverage.Simulated:
    if name == "verification":
        return verification_replicates(VerificationDesign(), N_SETS, N_BOOT, seed=11)
    return ijb_replicates(IjbDesign(template_share=DESIGNS[name]), N_SETS, N_BOOT, seed=11)


@pytest.fixture(scope="module")
def simulated() -> dict[str, coverage.Simulated]:
    return {name: _simulate(name) for name in DESIGNS}


def _stated(name: str) -> dict[str, float]:
    return STATED_COVERAGE[name]


def _failures(name: str, simulated: coverage.Simulated) -> set[str]:
    """Methods failing at 95 % against their stated coverage, or (calibrated ones) at 80 % against 80 %."""
    stated = _stated(name)
    failed = {line.split(":")[0] for line in coverage_failures(coverage.coverage(simulated), stated,
                                                               coverage.LABELS.get(name, {}))}
    inner = coverage.coverage(simulated, INNER)
    for method, value in stated.items():
        if CALIBRATED[0] <= value <= CALIBRATED[1]:
            half = max(0.03, 3.0 * np.sqrt(INNER * (1.0 - INNER) / N_SETS))
            if abs(inner[method].covered - INNER) > half:
                failed.add(method)
    return failed


def _scaled(factor: float):
    honest = bootstrap.percentile_interval

    def interval(replicates, level=0.95):
        low, high = honest(replicates, level)
        mid = (low + high) / 2.0
        return mid - factor * (mid - low), mid + factor * (high - mid)
    return interval


@pytest.mark.parametrize("name", list(DESIGNS))
def test_every_method_covers_as_stated(simulated, name):
    assert set(simulated[name].replicates) == set(_stated(name))
    assert _failures(name, simulated[name]) == set()


def test_stated_coverages_are_calibrated_or_labelled():
    for name, methods in STATED_COVERAGE.items():
        for method, value in methods.items():
            assert CALIBRATED[0] <= value <= CALIBRATED[1] or method in coverage.LABELS[name], (name, method)
    assert coverage.LABELS["verification"]["oracle"].startswith("optimistic")


@pytest.mark.parametrize("factor", [0.6, 1.7])
@pytest.mark.parametrize("name", list(DESIGNS))
def test_a_planted_narrow_or_wide_interval_fails(simulated, monkeypatch, name, factor):
    monkeypatch.setattr(bootstrap, "percentile_interval", _scaled(factor))
    failed = _failures(name, simulated[name])
    calibrated = {m for m, v in _stated(name).items() if CALIBRATED[0] <= v <= CALIBRATED[1]}
    assert calibrated <= failed if factor > 1 else set(_stated(name)) <= failed


def test_the_uncorrected_template_bootstrap_fails(monkeypatch):
    monkeypatch.setattr(bootstrap, "crossed_design_correction", lambda template_reps, pair_reps: template_reps)
    uncorrected = _simulate("IJB weak templates")
    assert _failures("IJB weak templates", uncorrected) == {"tar", "tar difference"}
    assert min(m.covered for m in coverage.coverage(uncorrected).values()) > 0.97


def test_correction_keeps_the_median_and_reaches_the_target_variance():
    rng = np.random.default_rng(0)
    template = rng.normal(3.0, 2.0, (4000, 2))
    pair = rng.normal(0.0, [0.5, 1.5], (4000, 2))  # V_t - 2 V_p = 3.5 in column 0; the floor V_p = 2.25 in column 1
    out = bootstrap.crossed_design_correction(template, pair)
    np.testing.assert_allclose(np.median(out, axis=0), np.median(template, axis=0))
    np.testing.assert_allclose(out.var(axis=0), [template[:, 0].var() - 2 * pair[:, 0].var(), pair[:, 1].var()])
    assert (bootstrap.crossed_design_correction(np.zeros((5, 1)), np.zeros((5, 1))) == 0).all()


class _UnitDraws:
    """A generator whose Poisson draws equal their means: every pair drawn once."""

    @staticmethod
    def poisson(lam, size):
        return np.broadcast_to(np.asarray(lam, dtype=float), size).copy()


def test_pair_bootstrap_with_unit_draws_reads_the_point_estimate():
    rng = np.random.default_rng(1)
    labels = (rng.random(3000) < 0.3).astype(np.uint8)
    scores = {"a": rng.normal(labels, 1.0), "b": rng.normal(labels, 0.7)}
    fars = (1e-2, 1e-1)
    got = bootstrap.ijb_tar_pair_boot(scores, labels, fars, 3, _UnitDraws())
    rows = np.c_[np.arange(3000), np.arange(3000) + 3000]  # every pair its own two templates: all weights 1
    want = bootstrap.ijb_tar_boot(scores, labels, rows, 6000, fars, np.ones((3, 6000), np.int32))
    for run in scores:
        np.testing.assert_array_equal(got[run], want[run])


SEED_COUNTS = {"1 seed difference": 1, "3 seeds difference": 3}


@pytest.fixture(scope="module")
def seed_simulated() -> dict[str, coverage.SeedSimulated]:
    return {method: seed_replicates(SeedDesign(), n, N_SETS, N_BOOT, seed=11) for method, n in SEED_COUNTS.items()}


def _seed_failures(simulated: dict[str, coverage.SeedSimulated]) -> set[str]:
    """Methods whose coverage with training noise misses its stated coverage (at 95 %, and at 80 % against 80 %)."""
    measured = {method: coverage.seed_coverage(sim) for method, sim in simulated.items()}
    failed = {line.split(":")[0] for line in coverage_failures(measured, STATED_COVERAGE["verification seeds"], {})}
    half = max(0.03, 3.0 * np.sqrt(INNER * (1.0 - INNER) / N_SETS))
    return failed | {method for method, sim in simulated.items()
                     if abs(coverage.seed_coverage(sim, INNER).covered - INNER) > half}


def test_intervals_with_training_noise_cover_for_one_and_three_seeds(seed_simulated):
    assert set(seed_simulated) == set(STATED_COVERAGE["verification seeds"])
    assert all(CALIBRATED[0] <= v <= CALIBRATED[1] for v in STATED_COVERAGE["verification seeds"].values())
    assert _seed_failures(seed_simulated) == set()


def test_test_set_noise_only_is_too_narrow(seed_simulated):
    """Planted: the intervals without the pooled seed variance (test-set noise only) must fail for 1 and 3 seeds."""
    unpooled = {method: sim._replace(pools=[seeds.SeedPool(math.nan, 0, ())] * len(sim.pools))
                for method, sim in seed_simulated.items()}
    assert _seed_failures(unpooled) == set(SEED_COUNTS)
    assert max(coverage.seed_coverage(sim).covered for sim in unpooled.values()) < 0.85


def test_a_planted_narrow_seed_variance_fails(seed_simulated):
    """The pooled seed standard deviation planted ×0.6 too small must fail for 1 and 3 seeds."""
    scaled = {method: sim._replace(pools=[p._replace(variance=p.variance * 0.36) for p in sim.pools])
              for method, sim in seed_simulated.items()}
    assert _seed_failures(scaled) == set(SEED_COUNTS)
