"""IJB 1:N identification at IJB-C size against a direct transcription of the reference loop, same process, same
features.

Usage: python bench/identification.py [--small] [--threads N] [--replicates B]
IJB-C size (protocols.md): galleries of 1,772 and 1,759 templates (one per subject), 19,593 probe templates of
512-d (unit vectors: a subject centre plus noise; probe subjects enrolled in one gallery each). Times
`x2softmax.evaluate.identification.identification` (both galleries, FPIRs 1e-4 ... 1, rank-1/5/10, CMC, the
101-point curve) and insightface's `evaluation_1N` loop twice plus the combination (tests/oracles/
reference_identification.py: one argsort per mated probe and row, the rows of other subjects stacked); checks the
integer counts are equal and the TPIRs agree to 1e-12; prints both times, their ratio and the peak additional memory
(RSS sampled every 5 ms). Target: <= 20 s and < 2 GB on 2 cores. Then the probe-template bootstrap of one run
(`identification_boot`, B replicates, default 1,000): time and memory. --small: a tenth of the size.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a tenth of IJB-C's size")
    parser.add_argument("--threads", type=int, default=2, help="BLAS / torch threads (default 2)")
    parser.add_argument("--replicates", type=int, default=1000, help="bootstrap replicates (default 1,000)")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np  # after the thread settings

    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here), str(here.parent / "tests" / "oracles")]
    from evaluation import measure  # the RSS-sampling timer of the other evaluation benchmarks
    from reference_identification import run_1n

    from x2softmax.evaluate.bootstrap import identification_boot, resample_counts
    from x2softmax.evaluate.identification import identification
    from x2softmax.vocabulary import FPIRS

    scale = 10 if args.small else 1
    sizes, n_probes, dim = (1772 // scale, 1759 // scale), 19593 // scale, 512
    rng = np.random.default_rng(0)
    n_subjects = sum(sizes)
    centres = rng.standard_normal((n_subjects, dim)) / np.sqrt(dim)

    def unit(x: np.ndarray) -> np.ndarray:
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    galleries = [(unit(centres[ids] + 1.5 * rng.standard_normal((len(ids), dim)) / np.sqrt(dim)), ids)
                 for ids in (np.arange(sizes[0]), np.arange(sizes[0], n_subjects))]
    probe_ids = rng.integers(0, n_subjects, n_probes)
    probes = unit(centres[probe_ids] + 3.0 * rng.standard_normal((n_probes, dim)) / np.sqrt(dim))
    fpirs = list(FPIRS)
    print(f"1:N: galleries {sizes[0]:,} + {sizes[1]:,} templates, {n_probes:,} probes, {dim}-d, "
          f"{args.threads} threads")

    ours, t_ours, mem_ours = measure(lambda: identification(probes, probe_ids, galleries, fpirs=fpirs))
    as_f64 = [(f.astype(np.float64), ids) for f, ids in galleries]
    ref, t_ref, mem_ref = measure(lambda: run_1n(probes.astype(np.float64), probe_ids, *as_f64[0], *as_f64[1],
                                                 fpirs))
    for name, key in (("G1", "g1"), ("G2", "g2")):
        counts = list(ours["galleries"][name]["rank_counts"].values())
        if counts != list(ref[key][:3]):
            raise SystemExit(f"rank counts differ in {name}: {counts} vs {list(ref[key][:3])}")
        gap = np.max(np.abs(np.subtract(ours["galleries"][name]["tpir"], ref[key][4])))
        if gap > 1e-12:
            raise SystemExit(f"TPIR differs in {name} by {gap:.2e}")
    print(f"package identification: {t_ours:7.2f} s, peak +{mem_ours / 2**20:,.0f} MiB "
          f"(rank-1 {ours['rank_rate']['1']:.4f}, TPIR@1e-2 {ours['tpir'][2] or float('nan'):.4f})")
    print(f"reference loop        : {t_ref:7.2f} s, peak +{mem_ref / 2**20:,.0f} MiB")
    print(f"speed-up {t_ref / t_ours:.1f}x; counts equal, TPIR equal to 1e-12; target <= 20 s and < 2 GB: "
          f"{'met' if t_ours <= 20 and mem_ours < 2 * 2**30 else 'NOT met'}")

    weights = resample_counts(n_probes, args.replicates, np.random.default_rng(1))
    searches = list(ours["searches"].values())
    boot, t_boot, mem_boot = measure(lambda: identification_boot(searches, n_probes, weights, fpirs, (1, 5, 10)))
    print(f"probe bootstrap ({args.replicates:,} replicates, one run): {t_boot:.2f} s, peak +{mem_boot / 2**20:,.0f} "
          f"MiB; rank-1 std {np.std(boot['rank_1']):.4f}")


if __name__ == "__main__":
    main()
