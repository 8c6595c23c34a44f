"""The reviewer's command: pull data and checkpoints from the DVC remote, then regenerate every report.

`python -m x2softmax.review [--configfile PRESET.yaml]` (or `make review PRESET=...`): runs `dvc pull` of every
output in dvc.lock except, for a real-data preset, its training set (MS1MV3: 5.2 M images, not needed to evaluate),
marks the restored outputs up to date with `snakemake --touch` (a fresh clone has no Snakemake metadata and the
restored files are newer than their inputs), then runs Snakemake, which evaluates and reports with no training job.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from x2softmax.config import ConfigError, read_yaml

# Workflow outputs that DVC restores, relative to the project ({root}: the preset's data root); they and everything
# upstream of them are touched.
RESTORED_PATTERNS = (
    "{root}/.checked/*.json",
    "results/preflight.json",
    "{root}/class_counts.csv",
    "results/train/*/backbone.pt",
    "results/train/*/head.pt",
    "results/train/*/metrics.jsonl",
    "results/train/*/summary.json",
    "results/toy/*.npz",
    "results/benchmarks/train_*.tsv",
    "results/aligned/*/images.npy",
    "results/aligned/*/index.tsv",
)


def restored_targets(root: Path, data_root: str) -> list[str]:
    """The restored workflow outputs present under project `root`, relative to it (the targets to touch)."""
    found = {str(p.relative_to(root)) for pattern in RESTORED_PATTERNS
             for p in root.glob(pattern.format(root=data_root))}
    return sorted(found)


def pull_targets(lock: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Every output path of dvc.lock, less the training set of a real-data preset."""
    skip = set() if config["synthetic"] else {str(Path(config["data"]["root"]) / "train")}
    paths = [out["path"] for stage in lock.get("stages", {}).values() for out in stage.get("outs", [])]
    return [p for p in paths if str(Path(p)) not in skip]


def _bounded_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping read through the bounded reader (size, aliases, FIFO, UTF-8); one line naming the file."""
    try:
        return read_yaml(path)
    except ConfigError as err:
        sys.exit(f"review: {err}")


def check_params(root: Path, config: Mapping[str, Any]) -> None:
    """params.yaml's data_root must be the preset's data.root (else DVC versioned another root)."""
    params_file = root / "params.yaml"
    if not params_file.exists():  # a FIFO or folder is refused by the reader, not skipped
        return
    params = _bounded_yaml(params_file)
    if Path(str(params.get("data_root"))) != Path(config["data"]["root"]):
        sys.exit(f"review: {params_file}: data_root is {params.get('data_root')!r} but the preset's data.root is "
                 f"{config['data']['root']!r}; set params.yaml to the preset the checkpoints were trained with")


def review(root: Path, snakemake_args: Sequence[str], config: Mapping[str, Any], cores: int = 2,
           pull: bool = True) -> None:
    """Pull from the DVC remote (not a real training set), touch what was restored, regenerate the reports."""
    def run(cmd: list[str]) -> None:
        print("+", " ".join(cmd), flush=True)
        code = subprocess.run(cmd, cwd=root, check=False).returncode
        if code != 0:  # its own last line says what is wrong: no traceback of ours after it
            sys.exit(code)

    check_params(root, config)
    if pull:
        lock_file = root / "dvc.lock"
        if not lock_file.exists():
            sys.exit(f"review: {lock_file} is missing: nothing was pushed (`dvc commit && dvc push` after training)")
        run(["dvc", "pull", *pull_targets(_bounded_yaml(lock_file), config)])
    targets = restored_targets(root, str(config["data"]["root"]))
    if not any(t.endswith("summary.json") for t in targets):
        sys.exit("review: no trained models were restored (results/train is empty): push them first with "
                 "`dvc commit && dvc push` on the machine that trained them")
    run(["snakemake", "--cores", str(cores), *snakemake_args, "--touch", *targets])
    run(["snakemake", "--cores", str(cores), *snakemake_args])
    print(f"Report: {root / 'reports/index.html'}")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: `python -m x2softmax.review`."""
    from x2softmax import config as xcfg

    parser = argparse.ArgumentParser(prog="python -m x2softmax.review", description=__doc__)
    parser.add_argument("--configfile", default=None, help="the preset the checkpoints were trained with")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--no-pull", action="store_true", help="the files are already restored")
    args = parser.parse_args(argv)
    extra = ["--configfile", args.configfile] if args.configfile else []
    try:  # the bounded reader first: Snakemake's own loader names no file and expands an alias bomb
        config = xcfg.load_config(args.configfile)
    except ConfigError as err:
        sys.exit(f"review: {err}")
    review(Path.cwd(), extra, config, cores=args.cores, pull=not args.no_pull)


if __name__ == "__main__":
    main()
