"""Coverage of the package's 95 % bootstrap intervals on simulated score sets with known population values.

Usage: python bench/coverage.py [--sets N] [--replicates B] [--seed S] [--designs verification ijb seeds]
Runs x2softmax.evaluate.coverage at full size (default 2,000 sets per design, 1,000 replicates; the test in
tests/evaluate/test_eval_coverage.py runs a few hundred sets): the verification design (600 pairs in 10 folds; the
10-fold and oracle protocols, one run and the paired difference) and the IJB-like design with weak (template
share 0.05) and strong (0.5) template effects (one run's TAR@FAR=1e-2 and the paired difference, the calibrated
template bootstrap), and the training-seed design (three losses trained with several seeds; X - Y over 1 and 3
common seeds with the interval of x2softmax.evaluate.seeds: test-set bootstrap plus the pooled seed variance).
Prints per method the coverage, its binomial standard error, the mean half-width, and whether
it lies in 93-97 %; the coverages stated in the package (x2softmax.evaluate.coverage.STATED_COVERAGE) come from here.
"""

from __future__ import annotations

import argparse
import math
import time

from x2softmax.evaluate.coverage import (IjbDesign, SeedDesign, VerificationDesign, coverage, ijb_replicates,
                                         seed_coverage, seed_replicates, verification_replicates)
from x2softmax.evaluate.seeds import SeedPool


def report(name: str, results: dict, seconds: float) -> None:
    """Print one line per method."""
    for method, c in results.items():
        se = math.sqrt(c.covered * (1 - c.covered) / c.n_sets) if 0 < c.covered < 1 else 0.0
        verdict = "in 93-97 %" if 0.93 <= c.covered <= 0.97 else "OUTSIDE 93-97 %"
        print(f"{name:<22} {method:<40} coverage {c.covered:.3f} ± {se:.3f} (SE, {c.n_sets} sets)  "
              f"half-width {100 * c.half_width:.2f} points  {verdict}")
    print(f"{name:<22} ({seconds:.0f} s)", flush=True)


def main() -> None:
    """Simulate every design and print the coverages."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=2000)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--designs", nargs="+", choices=("verification", "ijb", "seeds"),
                        default=["verification", "ijb", "seeds"])
    args = parser.parse_args()
    start = time.perf_counter()
    if "verification" in args.designs:
        report("verification", coverage(verification_replicates(VerificationDesign(), args.sets, args.replicates,
                                                                args.seed)), time.perf_counter() - start)
    for label, share in (("IJB weak templates", 0.05), ("IJB strong templates", 0.5)) if "ijb" in args.designs else ():
        start = time.perf_counter()
        design = IjbDesign(template_share=share)
        report(label, coverage(ijb_replicates(design, args.sets, args.replicates, args.seed)),
               time.perf_counter() - start)
    if "seeds" not in args.designs:
        return
    start = time.perf_counter()
    results = {}
    for n in (1, 3):
        simulated = seed_replicates(SeedDesign(), n, args.sets, args.replicates, args.seed)
        method = f"{n} seed{'s' if n > 1 else ''} difference"
        results[method] = seed_coverage(simulated)
        unpooled = [SeedPool(math.nan, 0, ())] * len(simulated.pools)  # test-set noise only: the old intervals
        results[f"{method}, test-set noise only"] = seed_coverage(simulated._replace(pools=unpooled))
    report("verification seeds", results, time.perf_counter() - start)


if __name__ == "__main__":
    main()
