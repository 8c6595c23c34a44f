"""The reviewer's command: pull data and checkpoints from the DVC remote, then regenerate every report.

`python -m x2softmax.review [--configfile PRESET.yaml]` (or `make review`): runs `dvc pull`, marks the restored
outputs up to date with `snakemake --touch` (a fresh clone has no Snakemake metadata and the restored files are
newer than their inputs), then runs Snakemake, which evaluates and reports without any training job.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

# Workflow outputs that DVC restores (dvc.yaml outs); everything upstream of them is touched with them.
RESTORED_PATTERNS = (
    "results/train/*/backbone.pt",
    "results/train/*/head.pt",
    "results/train/*/metrics.jsonl",
    "results/train/*/summary.json",
    "results/benchmarks/train_*.tsv",
    "results/aligned/*/images.npy",
    "results/aligned/*/index.tsv",
    "results/data/class_counts.csv",
)


def restored_targets(root: Path) -> list[str]:
    """The restored workflow outputs present under `root`, relative to it (the targets to touch)."""
    return sorted(str(p.relative_to(root)) for pattern in RESTORED_PATTERNS for p in root.glob(pattern))


def review(root: Path, snakemake_args: Sequence[str], cores: int = 2, pull: bool = True) -> None:
    """Pull from the DVC remote, touch what was restored, and run the workflow to regenerate the reports."""
    def run(cmd: list[str]) -> None:
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=root, check=True)

    if pull:
        run(["dvc", "pull"])
    targets = restored_targets(root)
    if not any(t.endswith("summary.json") for t in targets):
        sys.exit("review: no trained models were restored (results/train is empty): push them first with "
                 "`dvc commit && dvc push` on the machine that trained them")
    run(["snakemake", "--cores", str(cores), *snakemake_args, "--touch", *targets])
    run(["snakemake", "--cores", str(cores), *snakemake_args])
    print(f"Report: {root / 'reports/index.html'}")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: `python -m x2softmax.review`."""
    parser = argparse.ArgumentParser(prog="python -m x2softmax.review", description=__doc__)
    parser.add_argument("--configfile", default=None, help="the preset the checkpoints were trained with")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--no-pull", action="store_true", help="the files are already restored")
    args = parser.parse_args(argv)
    extra = ["--configfile", args.configfile] if args.configfile else []
    review(Path.cwd(), extra, cores=args.cores, pull=not args.no_pull)


if __name__ == "__main__":
    main()
