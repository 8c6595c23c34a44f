"""The names of the domain, each defined once: verification benchmarks, IJB suites, protocols, FARs and FPIRs.

Data synthesis, the readers, evaluation, the reports and the workflow's rules (through the config, validated against
these names) all spell them from here.
"""

from __future__ import annotations

from typing import NamedTuple


class Benchmark(NamedTuple):
    """A verification benchmark: what the reports, the synthetic generator and the data registry need of it."""

    label: str  # how the papers and reference_numbers.csv spell it
    condition: str  # what a pair's two synthetic images differ in (CONDITIONS)
    impostors: str  # the synthetic impostor pairs: "random" (any two identities) or "lookalike" (within one family)
    dataset: str  # registry name of the real .bin set (x2softmax/data/registry.yaml: DATA/val/{name}.bin)


# "any": any two images of the set form a pair (LFW); the others join a role-0 image (frontal / moderate pose /
# younger) with a role-1 image (profile / wide pose / older): x2softmax.data.synthetic.plan and .write.
CONDITIONS = ("any", "frontal_profile", "cross_pose", "cross_age")
IMPOSTORS = ("random", "lookalike")
# The .bin verification sets the authors' verification.py evaluates, one entry each (docs/architecture.md, "Adding a
# benchmark"); a new set is appended: the synthetic streams are numbered by position, so earlier sets keep theirs.
VERIFICATION = {
    "lfw": Benchmark("LFW", "any", "random", "lfw"),
    "cfp_fp": Benchmark("CFP-FP", "frontal_profile", "random", "cfp_fp"),
    "agedb_30": Benchmark("AgeDB-30", "cross_age", "random", "agedb_30"),
    "calfw": Benchmark("CALFW", "cross_age", "lookalike", "calfw"),
    "cplfw": Benchmark("CPLFW", "cross_pose", "lookalike", "cplfw"),
    "vgg2_fp": Benchmark("VGG2-FP", "frontal_profile", "random", "vgg2_fp"),
}
BENCHMARKS = tuple(VERIFICATION)
IJB_SUITES = ("IJBB", "IJBC")  # the IJB 1:1 template verification suites
# How the papers and reference_numbers.csv spell each benchmark and suite.
LABELS = {**{name: entry.label for name, entry in VERIFICATION.items()},
          **dict(zip(IJB_SUITES, ("IJB-B", "IJB-C"), strict=True))}
PROTOCOLS = ("10fold", "oracle", "oracle_flip")  # pair verification protocols (x2softmax.evaluate.verification)
FARS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)  # the false accept rates TAR is read at on the IJB ROCs
IDENTIFICATION = "1N"  # the IJB 1:N identification protocol (insightface IJB_evals.py -N): metrics' protocol name
FPIRS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # the false positive identification rates TPIR is read at (the reference's)
RANKS = (1, 5, 10)  # the ranks of the 1:N rank-k identification rates (the reference's top-1/5/10)
# The tables a rule writes, each {name}.csv: named here, where the workflow files read them without importing the
# modules that compute them (torch, scipy, pandas: every Snakemake process would pay those imports).
MARGIN_TABLES = ("target_logits", "angular_margins", "x2_grid", "x2_grid_margins", "boundaries")  # rule margins,
# written by analysis.margins.write_margin_tables, page 01's inputs
UNCERTAINTY_TABLES = ("verification_intervals", "ijb_intervals", "identification_intervals", "seed_summary",
                      "measurable_far", "paired_comparisons")  # rule uncertainty (evaluate.uncertainty)
# the controlled study's tables (rule mechanism_tables: results/mechanism/tables, analysis.study_tables)
STUDY_TABLES = ("runs", "run_slopes", "angle_bins", "dose_response", "lookalike", "margin_slopes", "convergence")


def settings_key(suite: str) -> str:
    """A suite's section in the synthetic data's settings (x2softmax.data.synthetic): IJBB -> ijbb."""
    return suite.lower()


def far_key(far: float) -> str:
    """The spelling of a FAR in JSON keys and metric names: 1e-06, 1e-04, 1e-01."""
    return f"{far:.0e}"
