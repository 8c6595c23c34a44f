"""`x2softmax train`, `evaluate`, `summary`, `uncertainty`, `run-health`: a run from training to its tables."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from x2softmax.cli.types import bounded, csv_arg, json_arg


def cmd_train(args: argparse.Namespace) -> None:
    """Train one run from its spec (--spec) or from the config (--loss)."""
    from x2softmax.runspec import RunSpec

    if args.spec is not None:  # what the workflow's jobs give: the config reader (jsonschema, yaml) is not loaded
        spec = RunSpec.from_dict(args.spec)
    else:
        from x2softmax import config as xcfg

        if not args.loss:
            sys.exit("x2softmax train: give --spec JSON, or --loss NAME (with --config/--preset)")
        config = xcfg.load_config(args.preset, base=args.config or xcfg.DEFAULT_CONFIG)
        run = args.loss
        if run not in xcfg.runs(config):
            config["run_losses"] = [*config["run_losses"], run]
            xcfg.validate_config(config)
        spec = xcfg.run_spec(config, run)
    out = Path(args.out)
    ckpt = Path(args.ckpt) if args.ckpt else out / "checkpoints"
    from x2softmax.train.launch import launch  # torch: once the spec and config are checked

    launch(spec, out, ckpt, gpus=args.gpus)


def cmd_evaluate(args: argparse.Namespace) -> None:
    """Evaluate one model on the verification benchmarks and IJB suites."""
    from x2softmax.evaluate.run import evaluate_model
    from x2softmax.train.devices import gpu_environment

    if args.threads:  # the job's share of the CPU: torch's default takes every core (oversubscribed in parallel jobs)
        import torch

        torch.set_num_threads(args.threads)
    with gpu_environment(args.gpus if args.device == "auto" else 0):
        path = evaluate_model(
            Path(args.model), Path(args.out), run=args.run or Path(args.model).parent.name,
            loss=args.loss or "unknown", data_root=Path(args.data_root), benchmarks=args.benchmarks,
            protocols=args.protocols, ijb=args.ijb,
            aligned_root=Path(args.aligned_root) if args.aligned_root else None, ijb_mode=args.ijb_mode,
            batch_size=args.batch_size, backbone=args.backbone,
            cache_dir=Path(args.cache) if args.cache else None, device=args.device,
            pair_stores=Path(args.pair_stores) if args.pair_stores else None,
        )
    print(path)


def cmd_summary(args: argparse.Namespace) -> None:
    """Combine per-run metrics into one tidy table."""
    from x2softmax.evaluate.summary import combine_metrics, metrics_json
    from x2softmax.io import atomic_write_json

    frame = combine_metrics([Path(p) for p in args.inputs], Path(args.out))
    if args.json:
        atomic_write_json(args.json, metrics_json(frame))
    print(f"{len(frame)} rows -> {args.out}")


def cmd_uncertainty(args: argparse.Namespace) -> None:
    """Write the bootstrap, seed and paired uncertainty tables."""
    from x2softmax.evaluate.uncertainty import uncertainty_tables, write_uncertainty

    tables = uncertainty_tables(args.runs, Path(args.eval_root), Path(args.train_root), Path(args.data_root),
                                args.ijb, args.x2 or None, n_boot=args.replicates, seed=args.seed,
                                threads=args.threads)
    for path in write_uncertainty(tables, Path(args.out)):
        print(path)


def cmd_run_health(args: argparse.Namespace) -> None:
    """Write the run health table and warn about saturated or identical runs."""
    from x2softmax.notices import warn
    from x2softmax.train.health import health_warnings, run_health, write_run_health

    health = run_health(Path(args.train_root), args.runs)
    for line in health_warnings(health):
        warn(line)
    print(write_run_health(health, Path(args.out)))


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the subcommands train, evaluate, summary, uncertainty, run-health."""
    p = sub.add_parser("train", help="train one loss (resumes from its checkpoint)")
    p.add_argument("--spec", type=json_arg, default=None, help="a resolved run spec (JSON)")
    p.add_argument("--config", default=None, help="base config file (default config/config.yaml)")
    p.add_argument("--preset", default=None, help="preset merged over the config (smoke, paper or a path)")
    p.add_argument("--loss", default=None, help="loss or ablation run name from the config")
    p.add_argument("--out", required=True)
    p.add_argument("--ckpt", default=None, help="checkpoint directory (default OUT/checkpoints)")
    p.add_argument("--gpus", type=int, default=1, help="GPUs to lease (>1 launches torchrun); CPU if none")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="verification benchmarks and IJB 1:1 and 1:N for one model")
    p.add_argument("--model", required=True, help="backbone.pt of this project or an arcface_torch state_dict")
    p.add_argument("--backbone", default=None, help="architecture for a bare state_dict (e.g. r50)")
    p.add_argument("--run", default=None)
    p.add_argument("--loss", default=None)
    p.add_argument("--data-root", required=True)
    p.add_argument("--benchmarks", type=csv_arg, default=[])
    p.add_argument("--protocols", type=csv_arg, default=["10fold", "oracle"])
    p.add_argument("--ijb", type=csv_arg, default=[])
    p.add_argument("--aligned-root", default=None)
    p.add_argument("--ijb-mode", default="N1D1F2")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--cache", default=None, help="embedding cache directory")
    p.add_argument("--pair-stores", default=None,
                   help="folder of decoded pair stores ({set}.npz, `x2softmax data decode-pairs`) read instead of .bin")
    p.add_argument("--device", default="auto")
    p.add_argument("--gpus", type=int, default=1, help="GPUs to take with --device auto (leased like training's)")
    p.add_argument("--threads", type=bounded(int, 1, 256), default=None,
                   help="CPU threads for the forward passes (default: torch's, every core)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("summary", help="combine per-run metrics.csv files into one tidy table")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--json", default=None, help="also write nested metrics JSON (for dvc metrics)")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("uncertainty", help="bootstrap intervals, mean ± std over seeds, paired X2-vs-baseline tables")
    p.add_argument("--runs", type=csv_arg, required=True, help="every evaluated run (comma-separated)")
    p.add_argument("--x2", default="", help="the X2-Softmax base run compared with every other base run")
    p.add_argument("--eval-root", default="results/eval")
    p.add_argument("--train-root", default="results/train")
    p.add_argument("--data-root", required=True, help="the data root holding the IJB meta files")
    p.add_argument("--ijb", type=csv_arg, default=[])
    p.add_argument("--replicates", type=bounded(int, 10, 10**6), default=1000)
    p.add_argument("--seed", type=bounded(int, 0, 2**32 - 1), default=0, help="seed of the resampling")
    p.add_argument("--threads", type=bounded(int, 1, 256), default=1,
                   help="threads of the bootstraps (verification, IJB template, 1:N); the calling thread draws the "
                        "resampling weights beside them (the tables do not depend on it)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_uncertainty)

    p = sub.add_parser("run-health", help="per run: saturation at the end, and runs with byte-identical backbones")
    p.add_argument("--runs", type=csv_arg, required=True, help="every trained run (comma-separated)")
    p.add_argument("--train-root", default="results/train")
    p.add_argument("--out", required=True, help="the CSV to write (results/summary/run_health.csv)")
    p.set_defaults(func=cmd_run_health)
