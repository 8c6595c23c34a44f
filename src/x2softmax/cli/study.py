"""`x2softmax mechanism ...`: the controlled study of adaptive margins (issue 36), one world's probe and its tables."""

from __future__ import annotations

import argparse
from pathlib import Path

from x2softmax.cli.types import bounded, csv_arg, json_arg


def cmd_mechanism_probe(args: argparse.Namespace) -> None:
    """Write one world's per-class head geometry (geometry.csv) and per-kind accuracy (kinds.csv) of every run."""
    import pandas as pd
    import torch

    from x2softmax.analysis.probe import KIND_COLUMNS, head_probe, kind_rows, run_spec_of
    from x2softmax.io import atomic_path

    torch.set_num_threads(args.threads)  # the job's share of the CPU (torch's default takes every core)
    world = Path(args.world_dir)
    run_dirs = {run: world / "train" / run for run in args.runs}
    geometry = head_probe(world / "data" / "train", run_dirs, batch_size=args.batch_size)
    rows = []
    for run, run_dir in run_dirs.items():
        spec = run_spec_of(run_dir)
        rows += kind_rows(world / "eval" / run / "verification_scores.npz", args.settings, args.benchmarks, run,
                          spec["loss"]["name"], int(spec["train"]["seed"]))
    for frame, name in ((geometry, "geometry.csv"), (pd.DataFrame(rows, columns=list(KIND_COLUMNS)), "kinds.csv")):
        with atomic_path(world / name) as tmp:
            frame.to_csv(tmp, index=False)
        print(world / name)


def cmd_mechanism_tables(args: argparse.Namespace) -> None:
    """Write the study's tables (x2softmax.analysis.study_tables) from its results folder."""
    from x2softmax.analysis.study_tables import write_study_tables

    for path in write_study_tables(Path(args.root), args.config, Path(args.out)):
        print(path)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand group mechanism (probe, tables)."""
    group = sub.add_parser("mechanism", help="the controlled study of adaptive margins (PRESET=mechanism)")
    mech = group.add_subparsers(dest="mechanism_command", required=True)
    p = mech.add_parser("probe", help="one world's head geometry per class and accuracy per pair kind, every run")
    p.add_argument("--world-dir", required=True, help="results/mechanism/<world> (data/, train/<run>/, eval/<run>/)")
    p.add_argument("--runs", type=csv_arg, required=True)
    p.add_argument("--settings", type=json_arg, required=True, help="the world's synthetic settings (JSON)")
    p.add_argument("--benchmarks", type=csv_arg, required=True)
    p.add_argument("--batch-size", type=bounded(int, 1, 1 << 16), default=128)
    p.add_argument("--threads", type=bounded(int, 1, 256), default=1, help="CPU threads for the forward passes")
    p.set_defaults(func=cmd_mechanism_probe)

    p = mech.add_parser("tables", help="the study's tables: every run, and the questions with intervals and verdicts")
    p.add_argument("--root", required=True, help="results/mechanism")
    p.add_argument("--config", type=json_arg, required=True, help="the resolved config (JSON) with its mechanism grid")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_mechanism_tables)
