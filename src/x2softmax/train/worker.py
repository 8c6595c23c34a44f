"""Entry point of one torchrun worker: `python -m x2softmax.train.worker --spec-file F --out DIR --ckpt DIR`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from x2softmax.errors import report_failure
from x2softmax.runspec import RunSpec
from x2softmax.shutdown import skip_final_collection
from x2softmax.train.trainer import train


def main(argv: list[str] | None = None) -> None:
    """Read the spec file and train (the process group comes from torchrun's environment); the process ends
    without the interpreter's final garbage collections (x2softmax.shutdown)."""
    skip_final_collection()
    parser = argparse.ArgumentParser(prog="python -m x2softmax.train.worker", description=__doc__)
    parser.add_argument("--spec-file", type=Path, required=True, help="run spec JSON written by launch()")
    parser.add_argument("--out", type=Path, required=True, help="output folder of the run")
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint folder of the run")
    args = parser.parse_args(argv)
    try:
        spec = RunSpec.from_json(args.spec_file.read_text())
    except (OSError, ValueError) as err:
        parser.error(f"{args.spec_file}: cannot read the run spec ({err})")
    rank = os.getenv("RANK", "0")
    report_failure(f"train (rank {rank})", lambda: train(spec, args.out, args.ckpt))


if __name__ == "__main__":
    main()
