"""Evaluation speed against the straightforward approaches, measured in the same process on the same inputs.

Usage: python bench/evaluation.py [--small] [--threads N]
(a) 10-fold verification accuracy on 6,000 pairs: the vectorised protocol vs insightface's loop over the 400
    thresholds per fold; results must be identical. Target >= 20x.
(b) IJB-C-sized pair scoring (23,124 templates of 512-d, 15,658,489 random pairs): `pair_scores` vs the numpy
    gather-and-dot with 100,000-pair batches; scores must agree (max abs difference printed). Target >= 3x, peak
    additional memory (RSS sampled from /proc/self/statm) under 4 GB. --small: 4,000 templates, 500,000 pairs.
(c) IJB template bootstrap (x2softmax.evaluate.bootstrap.ijb_tar_boot): first against the plain resampling loop
    (repeat each pair w[a]·w[c] times, read TAR@FAR) on a smaller suite (2,000 templates, 1,000,000 pairs, 20
    replicates):
    speed-up and max |difference| printed; then the absolute time and peak additional memory at IJB-C size
    (23,124 templates, 15,658,489 pairs, 19,557 genuine, 1,000 replicates). Target <= 60 s on 2 cores, < 4 GB.
    Then the pair bootstrap that calibrates it for the crossed design (`ijb_tar_pair_boot` of a difference of two
    runs, `crossed_design_correction`): its time and memory, and the calibrated / uncalibrated std per FAR.
    --small: 4,000 templates, 1,000,000 pairs, 200 replicates.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from x2softmax.evaluate.bootstrap import (crossed_design_correction, ijb_tar_boot, ijb_tar_pair_boot,
                                          template_weights)
from x2softmax.evaluate.ijb import pair_scores
from x2softmax.vocabulary import FARS
from x2softmax.evaluate.verification import squared_l2_distances, ten_fold_accuracy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "oracles"))  # the slow loops tests compare with
from reference_evaluation import ijb_tar_bootstrap_loop, pair_scores_gather, ten_fold_accuracy_loop  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def measure(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    """(result, seconds, peak RSS above the starting RSS in bytes) of one call, RSS sampled every 5 ms."""
    start_rss = rss_bytes()
    peak = [start_rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return result, seconds, max(peak[0], rss_bytes()) - start_rss


def bench_ten_fold(rng: np.random.Generator, n_pairs: int = 6000, dim: int = 512) -> None:
    """Vectorised 10-fold accuracy vs the threshold loop."""
    issame = np.repeat([True, False], n_pairs // 2)
    rng.shuffle(issame)
    emb1 = rng.standard_normal((n_pairs, dim))
    emb2 = np.where(issame[:, None], emb1 + 12.0 * rng.standard_normal((n_pairs, dim)),
                    rng.standard_normal((n_pairs, dim)))
    dist = squared_l2_distances(emb1, emb2)
    (fast_acc, fast_thr), fast_s, _ = measure(lambda: ten_fold_accuracy(dist, issame))
    (loop_acc, loop_thr), loop_s, _ = measure(lambda: ten_fold_accuracy_loop(dist, issame))
    identical = np.array_equal(fast_acc, loop_acc) and np.array_equal(fast_thr, loop_thr)
    print(f"(a) 10-fold on {n_pairs} pairs: loop {loop_s:.3f} s, vectorised {fast_s * 1e3:.2f} ms, "
          f"speed-up {loop_s / fast_s:.1f}x (target >= 20x); accuracy {fast_acc.mean():.5f}, identical: {identical}")


def bench_pair_scores(rng: np.random.Generator, n_templates: int, n_pairs: int, dim: int = 512) -> None:
    """Streamed pair scoring vs the numpy gather-and-dot baseline."""
    ids = np.sort(rng.choice(10 * n_templates, n_templates, replace=False)).astype(np.int64)
    feats = rng.standard_normal((n_templates, dim), dtype=np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    pairs = ids[rng.integers(0, n_templates, (n_pairs, 2))]
    fast, fast_s, fast_mem = measure(lambda: pair_scores(feats, ids, pairs))
    base, base_s, base_mem = measure(lambda: pair_scores_gather(feats, ids, pairs))
    diff = float(np.max(np.abs(fast - base)))
    print(f"(b) scoring {n_pairs:,} pairs of {n_templates:,} templates ({dim}-d): gather-and-dot {base_s:.2f} s "
          f"(+{base_mem / 2**30:.2f} GiB), pair_scores {fast_s:.2f} s (+{fast_mem / 2**30:.2f} GiB), speed-up "
          f"{base_s / fast_s:.1f}x (target >= 3x); max |diff| {diff:.2e}, allclose(atol=1e-6): {diff <= 1e-6}, "
          f"exactly equal: {np.array_equal(fast, base)}")


def _random_suite(rng: np.random.Generator, n_templates: int, n_pairs: int,
                  genuine: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores float32, labels uint8, template rows [M, 2]) of a random IJB-like suite."""
    rows = rng.integers(0, n_templates, (n_pairs, 2))
    labels = (rng.random(n_pairs) < genuine).astype(np.uint8)
    scores = rng.normal(0.1 + 0.6 * labels, 0.15).astype(np.float32)
    return scores, labels, rows


def bench_bootstrap(rng: np.random.Generator, n_templates: int, n_pairs: int, n_boot: int) -> None:
    """Template bootstrap of TAR@FAR: against the plain resampling loop, then absolute time at full size."""
    scores, labels, rows = _random_suite(rng, 2_000, 1_000_000, 0.01)
    weights = template_weights(2_000, 20, rng)
    fars = (1e-4, 1e-3, 1e-2, 1e-1)
    fast, fast_s, _ = measure(lambda: ijb_tar_boot({"r": scores}, labels, rows, 2_000, fars, weights)["r"])
    slow, slow_s, _ = measure(lambda: ijb_tar_bootstrap_loop(scores, labels, rows, weights, fars))
    print(f"(c) bootstrap, 2,000 templates, 1,000,000 pairs, 20 replicates: loop {slow_s:.2f} s, vectorised "
          f"{fast_s:.2f} s, speed-up {slow_s / fast_s:.1f}x; max |TAR diff| {np.nanmax(np.abs(fast - slow)):.4f} "
          "(grid reading vs full ROC)")
    scores, labels, rows = _random_suite(rng, n_templates, n_pairs, 19_557 / 15_658_489)
    weights = template_weights(n_templates, n_boot, rng)
    n_impostors = int((labels == 0).sum())
    fars = tuple(far for far in FARS if far >= 1.0 / n_impostors)
    tars, seconds, memory = measure(lambda: ijb_tar_boot({"r": scores}, labels, rows, n_templates, fars, weights)["r"])
    spread = ", ".join(f"{far:.0e}: ±{100 * s:.2f}" for far, s in zip(fars, tars.std(axis=0)))
    print(f"(c) bootstrap, {n_templates:,} templates, {n_pairs:,} pairs, {n_boot:,} replicates: {seconds:.1f} s "
          f"(target <= 60 s on 2 cores), +{memory / 2**30:.2f} GiB (target < 4 GiB); TAR std (points) {spread}")
    other = (scores + rng.normal(0.0, 0.05, len(scores))).astype(np.float32)  # a second run on the same pairs
    pair, pair_s, pair_mem = measure(lambda: ijb_tar_pair_boot({"a": scores, "b": other}, labels, fars, n_boot, rng))
    corrected = crossed_design_correction(tars, pair["a"])
    print(f"(c) crossed-design correction: pair bootstrap of a difference of two runs {pair_s:.1f} s (with their "
          "far_grids, which x2softmax uncertainty computes once per run), "
          f"+{pair_mem / 2**30:.2f} GiB (per run and per compared pair of runs, on top of the template bootstrap); "
          f"calibrated / template-bootstrap std {', '.join(f'{r:.2f}' for r in corrected.std(0) / tars.std(0))}")


def main() -> None:
    """Run the benchmarks and print times and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="smaller sets for (b) and (c)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, numpy {np.__version__}, torch threads {torch.get_num_threads()}, "
          f"baseline RSS {rss_bytes() / 2**30:.2f} GiB")
    bench_ten_fold(rng)
    if args.small:
        bench_pair_scores(rng, 4_000, 500_000)
        bench_bootstrap(rng, 4_000, 1_000_000, 200)
    else:
        bench_pair_scores(rng, 23_124, 15_658_489)
        bench_bootstrap(rng, 23_124, 15_658_489, 1_000)


if __name__ == "__main__":
    main()
