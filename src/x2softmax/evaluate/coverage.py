"""Coverage of the package's 95 % bootstrap intervals on simulated score sets whose population values are known.

Each simulated set is scored by two "runs" (X and Y, their noise correlated, X better by a known amount) and goes
through the same functions as `x2softmax uncertainty` (x2softmax.evaluate.bootstrap): the interval of each run and
the interval of the paired difference X - Y. The coverage of a method is the fraction of sets whose interval holds
the population value.

- Verification (`VerificationDesign`): pairs in 10 folds, half genuine in random order; cosines N(mean, SD) with one
  SD for genuine and impostor pairs, the genuine mean d x SD above the impostor mean. The population accuracy at the
  best threshold is Phi(d / 2); the 10-fold protocol estimates it, the oracle protocol (best threshold chosen on
  the test pairs themselves) overestimates it.
- IJB (`IjbDesign`): templates, pairs of two distinct templates drawn at random, a fraction genuine. A pair's score
  is mean + u[a] + u[b] + e: template effects u (one set for genuine, one for impostor pairs) and pair noise e, with
  Var(u[a] + u[b]) = `template_share` of a total variance of 1. Population FAR threshold
  t = impostor mean + Phi^-1(1 - FAR), TAR = Phi(genuine mean - t).
- Training seeds (`SeedDesign`): three losses X, Y, Z (Z as good as Y), each trained with several seeds, scored on
  one verification set. A network's separation is its loss's plus N(0, seed_sd^2) training noise (fresh per seed);
  a pair's noise is shared by every network to `item_correlation` (pairs hard for one network are hard for all). The
  population difference X - Y averages over training seeds and pairs: E Phi((d + b) / 2) = Phi(d / 2 /
  sqrt(1 + seed_sd^2 / 4)). The comparison X - Y uses 1 or 3 common seeds; the seed variance is pooled over the
  losses with several seeds (X and Z with 3 each, Y when it has 3) and goes through `x2softmax.evaluate.seeds`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.stats import norm

from x2softmax.evaluate import bootstrap, seeds
from x2softmax.evaluate.verification import ten_fold_accuracy

LEVEL = 0.95
CALIBRATED = (0.93, 0.97)  # coverage of a calibrated 95 % interval
# Coverage of each method measured by `python bench/coverage.py --sets 1000 --replicates 150 --seed 1` (binomial SE
# 0.004-0.012; 150 replicates as the test, whose sets are fewer): the pages state it, and
# tests/evaluate/test_eval_coverage.py re-measures it. Methods: one run's interval and the paired difference X - Y.
STATED_COVERAGE = {
    "verification": {"10fold": 0.976, "10fold difference": 0.983, "oracle": 0.810, "oracle difference": 0.953},
    "IJB weak templates": {"tar": 0.935, "tar difference": 0.947},
    "IJB strong templates": {"tar": 0.898, "tar difference": 0.901},
    # `python bench/coverage.py --sets 1000 --replicates 150 --seed 1 --designs seeds` (binomial SE 0.005-0.007)
    "verification seeds": {"1 seed difference": 0.970, "3 seeds difference": 0.948},
}
LABELS = {  # per design, what the pages say of a method whose coverage lies outside CALIBRATED
    "verification": {
        "oracle": "optimistic: the threshold is chosen on the test pairs, so the point estimate is biased upwards",
        "10fold": "conservative: wider than needed",
        "10fold difference": "conservative: wider than needed"},
    "IJB strong templates": {
        "tar": "optimistic: narrower than needed when templates carry half of the score variance",
        "tar difference": "optimistic: narrower than needed when templates carry half of the score variance"},
}


@dataclass(frozen=True)
class SeedDesign:
    """Runs of three losses trained with several seeds on one verification set (see the module docstring)."""

    n_pairs: int = 600
    separation: float = 2.5  # d of loss Y: genuine minus impostor mean cosine, in SDs
    advantage: float = 0.1  # loss X's separation minus loss Y's
    # SD of one network's separation over training seeds: training noise dominates, as in the default's runs (one
    # run's seed SD ≈ 1.5 × the test-set SD of a paired difference here, ≈ 2 × in the committed tables)
    seed_sd: float = 0.3
    sd: float = 0.1  # cosine SD of every pair
    item_correlation: float = 0.9  # share of a pair's noise variance common to every network
    pool_seeds: int = 3  # seeds of the losses X and Z


class Coverage(NamedTuple):
    """Fraction of simulated sets whose interval holds the population value, and the mean interval half-width."""

    covered: float
    half_width: float
    n_sets: int


@dataclass(frozen=True)
class VerificationDesign:
    """Pairs of a verification set (see the module docstring)."""

    n_pairs: int = 600
    separation: float = 2.5  # d of run Y: genuine minus impostor mean cosine, in SDs
    advantage: float = 0.3  # run X's separation minus run Y's
    sd: float = 0.1  # cosine SD of every pair
    correlation: float = 0.7  # of the two runs' noise on the same pair


@dataclass(frozen=True)
class IjbDesign:
    """An IJB-like template-pair design (see the module docstring)."""

    n_templates: int = 300
    n_pairs: int = 12_000
    genuine_fraction: float = 0.25
    template_share: float = 0.3  # share of a pair score's variance carried by its two templates
    separation: float = 2.0  # run Y: genuine minus impostor mean score (total SD 1)
    advantage: float = 0.3  # run X's separation minus run Y's
    correlation: float = 0.7  # of the two runs' template effects and pair noise
    far: float = 1e-2


def verification_truth(design: VerificationDesign) -> dict[str, float]:
    """Population accuracy of runs X and Y at their best thresholds and X - Y (fractions)."""
    x = norm.cdf((design.separation + design.advantage) / 2)
    y = norm.cdf(design.separation / 2)
    return {"x": float(x), "y": float(y), "difference": float(x - y)}


def ijb_truth(design: IjbDesign) -> dict[str, float]:
    """Population TAR at the design's FAR of runs X and Y and X - Y (fractions)."""
    z = norm.ppf(1.0 - design.far)
    x = norm.cdf(design.separation + design.advantage - z)
    y = norm.cdf(design.separation - z)
    return {"x": float(x), "y": float(y), "difference": float(x - y)}


def _correlated(rng: np.random.Generator, shape: tuple[int, ...], correlation: float) -> tuple[np.ndarray, np.ndarray]:
    """Two standard normal arrays with the given correlation elementwise."""
    y = rng.standard_normal(shape)
    return correlation * y + math.sqrt(1.0 - correlation ** 2) * rng.standard_normal(shape), y


def simulate_verification(design: VerificationDesign, rng: np.random.Generator
                          ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({"x": cosines, "y": cosines}, issame) of one simulated verification set."""
    issame = rng.permutation(np.arange(design.n_pairs) % 2 == 0)
    noise_x, noise_y = _correlated(rng, (design.n_pairs,), design.correlation)
    cos_x = design.sd * ((design.separation + design.advantage) * issame + noise_x)
    cos_y = design.sd * (design.separation * issame + noise_y)
    return {"x": cos_x, "y": cos_y}, issame


def simulate_ijb(design: IjbDesign, rng: np.random.Generator
                 ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """({"x": scores, "y": scores}, labels, template rows [M, 2]) of one simulated IJB-like suite."""
    first = rng.integers(0, design.n_templates, design.n_pairs)
    rows = np.c_[first, (first + rng.integers(1, design.n_templates, design.n_pairs)) % design.n_templates]
    labels = rng.random(design.n_pairs) < design.genuine_fraction
    tau = math.sqrt(design.template_share / 2.0)
    sigma = math.sqrt(1.0 - design.template_share)
    effect_x, effect_y = _correlated(rng, (2, design.n_templates), design.correlation)  # [genuine/impostor, T]
    noise_x, noise_y = _correlated(rng, (design.n_pairs,), design.correlation)
    kind = labels.astype(np.int64)[:, None]

    def scores(effect: np.ndarray, noise: np.ndarray, separation: float) -> np.ndarray:
        shared = effect[1 - kind, rows].sum(axis=1)  # the genuine or impostor effects of both templates
        return separation * labels + tau * shared + sigma * noise

    return ({"x": scores(effect_x, noise_x, design.separation + design.advantage),
             "y": scores(effect_y, noise_y, design.separation)}, labels.astype(np.uint8), rows)


class Simulated(NamedTuple):
    """Per interval method, the replicates [n_sets, B] of every simulated set and the population value it estimates."""

    replicates: dict[str, np.ndarray]
    truth: dict[str, float]


def verification_replicates(design: VerificationDesign, n_sets: int, n_boot: int, seed: int) -> Simulated:
    """Accuracy replicates of the 10-fold and oracle protocols, of run X and of X - Y, over `n_sets` simulated sets
    (pairs resampled within folds, the same draws for both runs, as `x2softmax uncertainty`)."""
    rng = np.random.default_rng(seed)
    reps: dict[str, list[np.ndarray]] = {}
    for _ in range(n_sets):
        cos, issame = simulate_verification(design, rng)
        weights = bootstrap.fold_stratified_weights(design.n_pairs, n_boot, rng)
        for protocol in ("10fold", "oracle"):
            scores = {run: 2.0 - 2.0 * c if protocol == "10fold" else c for run, c in cos.items()}
            shared = bootstrap.protocol_weights(weights, issame, protocol)  # cast once for both runs
            by_run = {run: bootstrap.verification_boot(s, issame, protocol, shared) for run, s in scores.items()}
            reps.setdefault(protocol, []).append(by_run["x"])
            reps.setdefault(f"{protocol} difference", []).append(by_run["x"] - by_run["y"])
    truth = verification_truth(design)
    return Simulated({method: np.stack(values) for method, values in reps.items()},
                     {method: truth["difference" if "difference" in method else "x"] for method in reps})


def ijb_replicates(design: IjbDesign, n_sets: int, n_boot: int, seed: int) -> Simulated:
    """TAR@FAR replicates of run X and of X - Y (template bootstrap, calibrated) over `n_sets` simulated suites."""
    rng = np.random.default_rng(seed)
    reps: dict[str, list[np.ndarray]] = {"tar": [], "tar difference": []}
    for _ in range(n_sets):
        scores, labels, rows = simulate_ijb(design, rng)
        per_run, diffs = bootstrap.ijb_replicates(scores, labels, rows, design.n_templates, [design.far], n_boot,
                                                  rng, rng, [("x", "y")])
        reps["tar"].append(per_run["x"][:, 0])
        reps["tar difference"].append(diffs[("x", "y")][:, 0])
    truth = ijb_truth(design)
    return Simulated({method: np.stack(values) for method, values in reps.items()},
                     {"tar": truth["x"], "tar difference": truth["difference"]})


def seed_truth(design: SeedDesign) -> float:
    """Population accuracy of loss X minus loss Y, averaged over training seeds (fraction)."""
    shrink = math.sqrt(1.0 + design.seed_sd ** 2 / 4.0)
    return float(norm.cdf((design.separation + design.advantage) / 2 / shrink)
                 - norm.cdf(design.separation / 2 / shrink))


class SeedSimulated(NamedTuple):
    """Per simulated set, the point difference X - Y over the common seeds, its test-set bootstrap replicates per
    seed [B, seeds] and the pooled seed variance; the population difference."""

    differences: np.ndarray
    replicates: np.ndarray
    pools: list[seeds.SeedPool]
    n_seeds: int
    truth: float


def seed_replicates(design: SeedDesign, n_seeds: int, n_sets: int, n_boot: int, seed: int) -> SeedSimulated:
    """10-fold accuracies of X - Y over `n_seeds` common seeds on `n_sets` simulated sets, as `x2softmax
    uncertainty` computes them: pairs resampled within folds (the same draws for every network), the seed
    variance pooled over the losses with several seeds."""
    rng = np.random.default_rng(seed)
    differences, replicates, pools = [], [], []
    separations = {"x": design.separation + design.advantage, "y": design.separation, "z": design.separation}
    counts = {"x": design.pool_seeds, "y": n_seeds, "z": design.pool_seeds}
    share = math.sqrt(design.item_correlation)
    own = math.sqrt(1.0 - design.item_correlation)
    for _ in range(n_sets):
        issame = rng.permutation(np.arange(design.n_pairs) % 2 == 0)
        item = rng.standard_normal(design.n_pairs)
        weights = bootstrap.ten_fold_weights(bootstrap.fold_stratified_weights(design.n_pairs, n_boot, rng))
        values: dict[str, list[float]] = {}
        reps: dict[str, list[np.ndarray]] = {}
        for loss, count in counts.items():
            for k in range(count):
                sep = separations[loss] + design.seed_sd * rng.standard_normal()
                cos = design.sd * (sep * issame + share * item + own * rng.standard_normal(design.n_pairs))
                dist = 2.0 - 2.0 * cos
                values.setdefault(loss, []).append(float(np.mean(ten_fold_accuracy(dist, issame)[0])))
                if loss != "z" and k < n_seeds:  # the compared networks: test-set replicates too
                    reps.setdefault(loss, []).append(bootstrap.verification_boot(dist, issame, "10fold", weights))
        per_seed = np.stack([x - y for x, y in zip(reps["x"], reps["y"])], axis=1)  # [B, n_seeds]
        differences.append(float(np.mean(np.subtract(values["x"][:n_seeds], values["y"]))))
        replicates.append(per_seed)
        pools.append(seeds.pooled_seed_variance(values))
    return SeedSimulated(np.asarray(differences), np.stack(replicates), pools, n_seeds, seed_truth(design))


def seed_coverage(simulated: SeedSimulated, level: float = LEVEL) -> Coverage:
    """The fraction of sets whose `seeds.trained_interval` holds the population difference."""
    covered, half = [], []
    for diff, reps, pool in zip(simulated.differences, simulated.replicates, simulated.pools):
        interval = seeds.trained_interval(float(diff), reps, pool, level)
        covered.append(interval.low <= simulated.truth <= interval.high)
        half.append((interval.high - interval.low) / 2.0)
    return Coverage(float(np.mean(covered)), float(np.mean(half)), len(covered))


def coverage(simulated: Simulated, level: float = LEVEL) -> dict[str, Coverage]:
    """Per method, the fraction of sets whose `bootstrap.percentile_interval` holds the population value."""
    out = {}
    for method, reps in simulated.replicates.items():
        low, high = bootstrap.percentile_interval(reps.T, level)
        truth = simulated.truth[method]
        out[method] = Coverage(float(np.mean((low <= truth) & (truth <= high))), float(np.mean(high - low) / 2.0),
                               len(reps))
    return out
