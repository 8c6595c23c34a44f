"""The `x2softmax` command: every workflow rule calls one of its subcommands."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from x2softmax.errors import report_failure


def _json_arg(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {text[:80]}") from None


def _bounded(kind: type, low: float, high: float) -> Callable[[str], Any]:
    """An argparse type: a finite `kind` (int or float) in [low, high]."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{text} is outside [{low:g}, {high:g}]")
        return value
    return parse


def _csv_arg(text: str) -> list[str]:
    return [item for item in text.split(",") if item]


# --- data ----------------------------------------------------------------------------------------------------

def cmd_data_synth(args: argparse.Namespace) -> None:
    from x2softmax.data.synthetic import generate

    manifest = generate(args.settings, Path(args.out))
    print(json.dumps(manifest.get("counts", {}), indent=2))


def cmd_data_fetch(args: argparse.Namespace) -> None:
    from x2softmax.data.datasets import SAMPLE_IMAGES, check_dataset, fetch_dataset
    from x2softmax.io import atomic_write_json

    path = fetch_dataset(args.name, Path(args.root), source=args.source)
    summary = check_dataset(path, sample=SAMPLE_IMAGES)
    print(summary)
    if args.marker:
        atomic_write_json(args.marker, {"dataset": args.name, "path": str(path), "check": summary})


def cmd_data_preflight(args: argparse.Namespace) -> None:
    from x2softmax.data.datasets import preflight
    from x2softmax.io import atomic_write_json

    problems = preflight(args.names, Path(args.root))
    if problems:
        sys.exit("preflight failed: the datasets below are missing or invalid; nothing was trained.\n- "
                 + "\n- ".join(problems))
    print(f"preflight: {len(args.names)} datasets present and valid under {args.root}")
    if args.out:
        atomic_write_json(args.out, {"datasets": args.names, "root": args.root, "problems": []})


def cmd_data_check(args: argparse.Namespace) -> None:
    from x2softmax.data.datasets import check_dataset

    print(check_dataset(Path(args.path), sample=args.sample))


def cmd_data_class_counts(args: argparse.Namespace) -> None:
    from x2softmax.data.stats import write_class_counts

    frame = write_class_counts(Path(args.train_dir), Path(args.out))
    print(f"{len(frame)} classes, {int(frame['count'].sum())} images -> {args.out}")


def cmd_data_align(args: argparse.Namespace) -> None:
    from x2softmax.data.align import align_ijb_suite

    print(align_ijb_suite(Path(args.suite_root), args.suite, Path(args.out), size=args.size))


def cmd_data_align_folder(args: argparse.Namespace) -> None:
    from x2softmax.data.align import align_folder

    print(align_folder(Path(args.src), Path(args.out), size=args.size, detector=args.detector))


def cmd_data_decode_pairs(args: argparse.Namespace) -> None:
    from x2softmax.data.pair_store import write_pair_store

    print(write_pair_store(Path(args.bin), Path(args.out), args.size))


def cmd_data_pack(args: argparse.Namespace) -> None:
    from x2softmax.data.pack import pack_folder

    print(pack_folder(Path(args.folder), Path(args.out), size=args.size))


# --- train, evaluate -------------------------------------------------------------------------------------------

def cmd_train(args: argparse.Namespace) -> None:
    from x2softmax import config as xcfg
    from x2softmax.runspec import RunSpec
    from x2softmax.train.launch import launch

    if args.spec is not None:
        spec = RunSpec.from_dict(args.spec)
    else:
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
    launch(spec, out, ckpt, gpus=args.gpus)


def cmd_evaluate(args: argparse.Namespace) -> None:
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
    from x2softmax.evaluate.summary import combine_metrics, metrics_json
    from x2softmax.io import atomic_write_json

    frame = combine_metrics([Path(p) for p in args.inputs], Path(args.out))
    if args.json:
        atomic_write_json(args.json, metrics_json(frame))
    print(f"{len(frame)} rows -> {args.out}")


def cmd_uncertainty(args: argparse.Namespace) -> None:
    from x2softmax.evaluate.uncertainty import uncertainty_tables, write_uncertainty

    tables = uncertainty_tables(args.runs, Path(args.eval_root), Path(args.train_root), Path(args.data_root),
                                args.ijb, args.x2 or None, n_boot=args.replicates, seed=args.seed,
                                threads=args.threads)
    for path in write_uncertainty(tables, Path(args.out)):
        print(path)


def cmd_run_health(args: argparse.Namespace) -> None:
    from x2softmax.notices import warn
    from x2softmax.train.health import health_warnings, run_health, write_run_health

    health = run_health(Path(args.train_root), args.runs)
    for line in health_warnings(health):
        warn(line)
    print(write_run_health(health, Path(args.out)))


# --- analysis, toy, reports, plan ------------------------------------------------------------------------------

def cmd_analyze_margins(args: argparse.Namespace) -> None:
    from x2softmax.analysis.margins import write_margin_tables

    for path in write_margin_tables(args.losses, Path(args.out)):
        print(path)


def cmd_toy(args: argparse.Namespace) -> None:
    from x2softmax.analysis.toy import run_toy

    print(run_toy(args.loss, args.hparams, args.dim, args.settings, Path(args.out)))


def cmd_report_render(args: argparse.Namespace) -> None:
    from x2softmax.report.render import render_html

    print(render_html(Path(args.notebook), Path(args.html), Path(args.config) if args.config else None))


def cmd_report_style(args: argparse.Namespace) -> None:
    from x2softmax.report.style import write_stylesheet

    print(write_stylesheet(Path(args.out)))


def cmd_report_index(args: argparse.Namespace) -> None:
    from x2softmax.report.index import build_index

    config = json.loads(Path(args.config).read_text(encoding="utf-8"))
    print(build_index(Path(args.reports), Path(args.out), config=config, results_dir=Path(args.results)))


def cmd_report_environment(args: argparse.Namespace) -> None:
    from x2softmax.report.provenance import write_environment

    print(write_environment(Path(args.out)))


def cmd_report_reproduction(args: argparse.Namespace) -> None:
    from x2softmax.report.reproduction import read_reproduction, reproduction_table, summary_line, write_reproduction

    if args.summary:  # print the line of the table the workflow wrote (make replicate's last line)
        written = read_reproduction(Path(args.out))
        print(summary_line(*written) if written else f"Reproduction: not checked ({args.out} absent).")
        return
    table, statement = reproduction_table(Path(args.metrics), Path(args.uncertainty), Path(args.repo))
    write_reproduction(table, statement, Path(args.out))
    print(summary_line(table, statement))


def cmd_report_config(args: argparse.Namespace) -> None:
    from x2softmax.io import atomic_write_json

    atomic_write_json(args.out, args.config)


def cmd_config_check(args: argparse.Namespace) -> None:
    from x2softmax import config as xcfg

    config = xcfg.load_config(args.preset, base=args.config or xcfg.DEFAULT_CONFIG)
    print(f"config: valid ({len(xcfg.runs(config))} runs)")


def cmd_plan(args: argparse.Namespace) -> None:
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
    from x2softmax.gpucheck import CHECKS
    from x2softmax.gpucheck import main as gpu_check_main

    only = args.checks.split(",") if args.checks else CHECKS
    sys.exit(gpu_check_main(dry=args.dry, out=Path(args.out), budget_s=args.budget, only=only,
                            run_smoke=args.run_smoke))


def cmd_wheels(args: argparse.Namespace) -> None:
    from x2softmax.gpucheck import bundle

    print(bundle.main(Path(args.out), args.python_version))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `x2softmax` command."""
    parser = argparse.ArgumentParser(prog="x2softmax", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="datasets: synthesize, fetch, check, align, pack").add_subparsers(
        dest="data_command", required=True)
    p = data.add_parser("synth", help="write synthetic identities in the real formats")
    p.add_argument("--settings", type=_json_arg, default={}, help="JSON overrides of synthetic.DEFAULTS")
    p.add_argument("--out", required=True, help="data root to write")
    p.set_defaults(func=cmd_data_synth)
    p = data.add_parser("fetch", help="download a registry dataset (or explain how to get it) and check it")
    p.add_argument("name")
    p.add_argument("--root", required=True)
    p.add_argument("--source", default=None, help="a URL, local path or archive to take the data from")
    p.add_argument("--marker", default=None, help="write a JSON marker here once the dataset checks out")
    p.set_defaults(func=cmd_data_fetch)
    p = data.add_parser("preflight", help="check that every named dataset is present and valid")
    p.add_argument("names", nargs="*")
    p.add_argument("--root", required=True)
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_data_preflight)
    p = data.add_parser("check", help="validate a dataset (RecordIO dir, .bin file or IJB suite), decoding every image")
    p.add_argument("path")
    p.add_argument("--sample", type=int, default=None, help="decode only this many images, spread evenly")
    p.set_defaults(func=cmd_data_check)
    p = data.add_parser("class-counts", help="images per identity of a training RecordIO")
    p.add_argument("train_dir")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_data_class_counts)
    p = data.add_parser("align", help="align an IJB suite into an aligned store")
    p.add_argument("suite_root")
    p.add_argument("--suite", required=True, choices=["IJBB", "IJBC"])
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=112)
    p.set_defaults(func=cmd_data_align)
    p = data.add_parser("align-folder", help="detect, landmark and align a folder of raw photos (needs [detect])")
    p.add_argument("src")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--detector", default="dlib")
    p.set_defaults(func=cmd_data_align_folder)
    p = data.add_parser("pack", help="pack an aligned image folder (one subfolder per identity) into RecordIO")
    p.add_argument("folder")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=112)
    p.set_defaults(func=cmd_data_pack)
    p = data.add_parser("decode-pairs", help="decode a .bin set's distinct images once, at the model's input size")
    p.add_argument("--bin", required=True)
    p.add_argument("--size", type=_bounded(int, 1, 4096), required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_data_decode_pairs)

    p = sub.add_parser("train", help="train one loss (resumes from its checkpoint)")
    p.add_argument("--spec", type=_json_arg, default=None, help="a resolved run spec (JSON)")
    p.add_argument("--config", default=None, help="base config file (default config/config.yaml)")
    p.add_argument("--preset", default=None, help="preset merged over the config (smoke, paper or a path)")
    p.add_argument("--loss", default=None, help="loss or ablation run name from the config")
    p.add_argument("--out", required=True)
    p.add_argument("--ckpt", default=None, help="checkpoint directory (default OUT/checkpoints)")
    p.add_argument("--gpus", type=int, default=1, help="GPUs to lease (>1 launches torchrun); CPU if none")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="verification benchmarks and IJB 1:1 for one model")
    p.add_argument("--model", required=True, help="backbone.pt of this project or an arcface_torch state_dict")
    p.add_argument("--backbone", default=None, help="architecture for a bare state_dict (e.g. r50)")
    p.add_argument("--run", default=None)
    p.add_argument("--loss", default=None)
    p.add_argument("--data-root", required=True)
    p.add_argument("--benchmarks", type=_csv_arg, default=[])
    p.add_argument("--protocols", type=_csv_arg, default=["10fold", "oracle"])
    p.add_argument("--ijb", type=_csv_arg, default=[])
    p.add_argument("--aligned-root", default=None)
    p.add_argument("--ijb-mode", default="N1D1F2")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--cache", default=None, help="embedding cache directory")
    p.add_argument("--pair-stores", default=None,
                   help="folder of decoded pair stores ({set}.npz, `x2softmax data decode-pairs`) read instead of .bin")
    p.add_argument("--device", default="auto")
    p.add_argument("--gpus", type=int, default=1, help="GPUs to take with --device auto (leased like training's)")
    p.add_argument("--threads", type=_bounded(int, 1, 256), default=None,
                   help="CPU threads for the forward passes (default: torch's, every core)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("summary", help="combine per-run metrics.csv files into one tidy table")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--json", default=None, help="also write nested metrics JSON (for dvc metrics)")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("uncertainty", help="bootstrap intervals, mean ± std over seeds, paired X2-vs-baseline tables")
    p.add_argument("--runs", type=_csv_arg, required=True, help="every evaluated run (comma-separated)")
    p.add_argument("--x2", default="", help="the X2-Softmax base run compared with every other base run")
    p.add_argument("--eval-root", default="results/eval")
    p.add_argument("--train-root", default="results/train")
    p.add_argument("--data-root", required=True, help="the data root holding the IJB meta files")
    p.add_argument("--ijb", type=_csv_arg, default=[])
    p.add_argument("--replicates", type=_bounded(int, 10, 10**6), default=1000)
    p.add_argument("--seed", type=_bounded(int, 0, 2**32 - 1), default=0, help="seed of the resampling")
    p.add_argument("--threads", type=_bounded(int, 1, 256), default=1,
                   help="threads for the verification bootstrap (the tables do not depend on it)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_uncertainty)

    p = sub.add_parser("run-health", help="per run: saturation at the end, and runs with byte-identical backbones")
    p.add_argument("--runs", type=_csv_arg, required=True, help="every trained run (comma-separated)")
    p.add_argument("--train-root", default="results/train")
    p.add_argument("--out", required=True, help="the CSV to write (results/summary/run_health.csv)")
    p.set_defaults(func=cmd_run_health)

    analyze = sub.add_parser("analyze", help="analysis tables").add_subparsers(dest="analyze_command", required=True)
    p = analyze.add_parser("margins", help="target logits and margins of every loss")
    p.add_argument("--losses", type=_json_arg, required=True, help="JSON: display name -> {name, hparams}")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_analyze_margins)

    p = sub.add_parser("toy", help="the toy example for one loss and dimension")
    p.add_argument("--loss", required=True)
    p.add_argument("--dim", type=int, choices=[2, 3], required=True)
    p.add_argument("--hparams", type=_json_arg, default={})
    p.add_argument("--settings", type=_json_arg, default={})
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_toy)

    report = sub.add_parser("report", help="HTML reports").add_subparsers(dest="report_command", required=True)
    p = report.add_parser("render", help="executed notebook -> offline HTML")
    p.add_argument("notebook")
    p.add_argument("html")
    p.add_argument("--config", default=None, help="resolved config JSON (its hash goes into the page footer)")
    p.set_defaults(func=cmd_report_render)
    p = report.add_parser("style", help="write the shared stylesheet of the pages")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report_style)
    p = report.add_parser("index", help="build reports/index.html")
    p.add_argument("--config", required=True, help="resolved config JSON")
    p.add_argument("--results", default="results")
    p.add_argument("--reports", default="reports")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report_index)
    p = report.add_parser("environment", help="record commit, machine, CPU and library versions (results/environment.json)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report_environment)
    p = report.add_parser("reproduction", help="regenerated numbers vs those committed in git, per metric")
    p.add_argument("--metrics", default="reports/metrics.json", help="the regenerated reports/metrics.json")
    p.add_argument("--uncertainty", default="results/uncertainty", help="the regenerated interval tables")
    p.add_argument("--repo", default=".", help="the git checkout whose HEAD holds the committed numbers")
    p.add_argument("--out", required=True)
    p.add_argument("--summary", action="store_true", help="only print the summary line of the written table")
    p.set_defaults(func=cmd_report_reproduction)
    p = report.add_parser("config", help="write the resolved config as JSON")
    p.add_argument("config", type=_json_arg)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report_config)

    p = sub.add_parser("config-check", help="validate the config and a preset; errors name the file and the key")
    p.add_argument("--config", default=None, help="base config file (default config/config.yaml)")
    p.add_argument("--preset", default=None, help="smoke, paper or a preset file")
    p.set_defaults(func=cmd_config_check)

    p = sub.add_parser("plan", help="every job of a preset with its requests and estimated GPU-hours")
    p.add_argument("--preset", default=None, help="smoke, paper or a preset file (default: embedded default)")
    p.add_argument("--throughput", type=_bounded(float, 1e-3, 1e9), default=None, help="training images/s per GPU")
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
    p.add_argument("--runs", type=_csv_arg, default=None, help="comma-separated runs (default: every run)")
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
    p.set_defaults(func=cmd_gpu_check)

    p = sub.add_parser("wheels", help="the wheels gpu-check needs beyond the lent GPU machine's packages (make wheels)")
    p.add_argument("--out", default=".whl", help="the wheel folder (ignored by git; carried to the machine)")
    p.add_argument("--python-version", default="3.12", help="the target's CPython (the lent machine's: 3.12)")
    p.set_defaults(func=cmd_wheels)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `x2softmax` command; a failure ends with one clear line (X2S_TRACEBACK=1 shows more)."""
    args = build_parser().parse_args(argv)
    report_failure(args.command, lambda: args.func(args))


if __name__ == "__main__":
    main()
