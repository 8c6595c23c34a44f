"""The names of the domain, each defined once: verification benchmarks, IJB suites, protocols, FARs and FPIRs.

Data synthesis, the readers, evaluation, the reports and the workflow's rules (through the config, validated against
these names) all spell them from here.
"""

from __future__ import annotations

# The .bin verification sets the authors' verification.py evaluates; appended sets keep earlier synthetic streams.
BENCHMARKS = ("lfw", "cfp_fp", "agedb_30", "calfw", "cplfw", "vgg2_fp")
IJB_SUITES = ("IJBB", "IJBC")  # the IJB 1:1 template verification suites
# How the papers and reference_numbers.csv spell each benchmark and suite.
LABELS = dict(zip(BENCHMARKS + IJB_SUITES, ("LFW", "CFP-FP", "AgeDB-30", "CALFW", "CPLFW", "VGG2-FP", "IJB-B", "IJB-C"),
                  strict=True))
PROTOCOLS = ("10fold", "oracle", "oracle_flip")  # pair verification protocols (x2softmax.evaluate.verification)
FARS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)  # the false accept rates TAR is read at on the IJB ROCs
IDENTIFICATION = "1N"  # the IJB 1:N identification protocol (insightface IJB_evals.py -N): metrics' protocol name
FPIRS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # the false positive identification rates TPIR is read at (the reference's)
RANKS = (1, 5, 10)  # the ranks of the 1:N rank-k identification rates (the reference's top-1/5/10)


def settings_key(suite: str) -> str:
    """A suite's section in the synthetic data's settings (x2softmax.data.synthetic): IJBB -> ijbb."""
    return suite.lower()


def far_key(far: float) -> str:
    """The spelling of a FAR in JSON keys and metric names: 1e-06, 1e-04, 1e-01."""
    return f"{far:.0e}"
