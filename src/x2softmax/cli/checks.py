"""`x2softmax config-check`, `plan`, `cluster-check`, `rehearse`, `gpu-check`, `wheels`: checks before a run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from x2softmax.cli.types import bounded, csv_arg


def cmd_config_check(args: argparse.Namespace) -> None:
    """Validate a config and preset (and DVC's params.yaml), each read through the bounded YAML reader."""
    from x2softmax import config as xcfg

    if args.params:  # before the preset it names: DVC parses params.yaml before any stage command runs
        from x2softmax.dvc_stage import read_params

        read_params(Path(args.params))
    # in a project (where its Snakefile is) the hyperparameter check keeps its record where Snakemake's would
    record = xcfg.HPARAM_RECORD if Path("Snakefile").is_file() else None
    config = xcfg.load_config(args.preset, base=args.config or xcfg.DEFAULT_CONFIG, record=record)
    print(f"config: valid ({len(xcfg.runs(config))} runs)")


def cmd_plan(args: argparse.Namespace) -> None:
    """Print every job of a preset with its requests and estimated GPU-hours."""
    from x2softmax import config as xcfg
    from x2softmax.plan import SLURM_PROFILE, compute_plan, format_plan, throughput_source, workflow_jobs

    config = xcfg.load_config(args.preset)
    profile = Path(args.profile) if args.profile else SLURM_PROFILE
    source = throughput_source(config, measured=Path(args.measured) if args.measured else None,
                               throughput=args.throughput)
    print(f"Requests through {profile} (its default-resources and set-resources, applied by Snakemake's dry run)")
    print(source)
    print(format_plan(workflow_jobs(args.preset, profile), compute_plan(config)))


def cmd_cluster_check(args: argparse.Namespace) -> None:
    """Refuse job kinds no node of their Slurm partition can run."""
    from x2softmax import cluster
    from x2softmax.plan import SLURM_PROFILE, workflow_jobs

    profile = Path(args.profile) if args.profile else SLURM_PROFILE
    jobs = [j for j in workflow_jobs(args.preset, profile) if not j["local"]]
    requests = cluster.kind_requests(
        cluster.Request(j["rule"], None if j["partition"] == "(default)" else j["partition"], j["cpus"], j["mem_mb"],
                        j["gpus"], j["runtime_min"]) for j in jobs)
    if problems := cluster.oversized(requests, *cluster.read_partitions()):
        for line in problems:
            print(f"cluster-check: {line}", file=sys.stderr)
        sys.exit(1)
    for req in requests:
        print(f"cluster-check: {req.kind}: {req.cpus} CPUs, {req.mem_mb} MB, {req.gpus} GPUs, {req.runtime_min} min "
              f"in partition {req.partition or '(default)'}: fits")


def cmd_rehearse(args: argparse.Namespace) -> None:
    """Rehearse a preset's training, resume and evaluation on the CPU."""
    from x2softmax import config as xcfg
    from x2softmax.rehearsal import RehearsalSettings, rehearse
    from x2softmax.rehearsal.run import format_rehearsal, reduced_settings

    settings = RehearsalSettings(runs=args.runs or None, steps=args.steps, batch_size=args.batch_size,
                                 threads=args.threads)
    if args.reduced:
        settings = reduced_settings(args.threads)
    result = rehearse(xcfg.load_config(args.preset), Path(args.out), settings)
    print(format_rehearsal(result))
    if not result["ok"]:
        sys.exit(1)


def cmd_gpu_check(args: argparse.Namespace) -> None:
    """Run the one-command check of a GPU machine."""
    from x2softmax.gpucheck import CHECKS
    from x2softmax.gpucheck import main as gpu_check_main

    only = args.checks.split(",") if args.checks else CHECKS
    sys.exit(gpu_check_main(dry=args.dry, out=Path(args.out), budget_s=args.budget, only=only,
                            run_smoke=args.run_smoke, smoke_subset=args.smoke_subset))


def cmd_wheels(args: argparse.Namespace) -> None:
    """Write every wheel gpu-check needs but the lent machine's torch and numeric stack (needs.FROM_THE_IMAGE)."""
    from x2softmax.gpucheck import bundle

    print(bundle.main(Path(args.out), args.python_version))


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the subcommands config-check, plan, cluster-check, rehearse, gpu-check, wheels."""
    p = sub.add_parser("config-check", help="validate the config and a preset; errors name the file and the key")
    p.add_argument("--config", default=None, help="base config file (default config/config.yaml)")
    p.add_argument("--preset", default=None, help="smoke, paper or a preset file")
    p.add_argument("--params", default=None,
                   help="DVC's params.yaml: its preset, data_root and data_meta must be plain names or paths")
    p.set_defaults(func=cmd_config_check)

    p = sub.add_parser("plan", help="every job of a preset with its requests and estimated GPU-hours")
    p.add_argument("--preset", default=None, help="smoke, paper or a preset file (default: embedded default)")
    p.add_argument("--throughput", type=bounded(float, 1e-3, 1e9), default=None, help="training images/s per GPU")
    p.add_argument("--measured", default=None,
                   help="gpu-check's JSON (results/gpu_check.json): its measured images/s per GPU replace the config's")
    p.add_argument("--profile", default=None,
                   help="workflow profile whose requests to list (default: profiles/slurm of this repository)")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("cluster-check", help="refuse job kinds no node of their Slurm partition can run (sinfo)")
    p.add_argument("--preset", default=None, help="smoke, paper or a preset file (default: embedded default)")
    p.add_argument("--profile", default=None, help="the Slurm workflow profile (default: profiles/slurm)")
    p.set_defaults(func=cmd_cluster_check)

    p = sub.add_parser("rehearse", help="the preset's training, resume and evaluation at paper shapes on the CPU")
    p.add_argument("--preset", default="paper", help="a real-data preset (default: paper)")
    p.add_argument("--out", default="results/rehearsal")
    p.add_argument("--runs", type=csv_arg, default=None, help="comma-separated runs (default: every run)")
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reduced", action="store_true", help="the tests' form: one run, iresnet_tiny, same head and sizes")
    p.set_defaults(func=cmd_rehearse)

    p = sub.add_parser("gpu-check", help="the one-command check of a GPU machine (one JSON summary)")
    p.add_argument("--dry", action="store_true", help="run every check on the CPU at tiny shapes (no GPU needed)")
    p.add_argument("--out", default="results/gpu_check.json")
    p.add_argument("--budget", type=float, default=480.0, help="seconds the checks may take in all")
    p.add_argument("--checks", default="", help="comma-separated subset of the checks (default: all)")
    p.add_argument("--run-smoke", action="store_true",
                   help="with --dry: run the smoke workflow on the CPU, not only plan it")
    p.add_argument("--smoke-subset", action="store_true",
                   help="the smoke workflow's subset: softmax and x2softmax trained and evaluated, page 01 rendered "
                        "(the device simulation's tests; default: its whole DAG)")
    p.set_defaults(func=cmd_gpu_check)

    p = sub.add_parser("wheels", help="every wheel gpu-check needs but the lent machine's torch and numeric stack (make wheels)")
    p.add_argument("--out", default=".whl", help="the wheel folder (ignored by git; carried to the machine)")
    p.add_argument("--python-version", default="3.12", help="the target's CPython (the lent machine's: 3.12)")
    p.set_defaults(func=cmd_wheels)
