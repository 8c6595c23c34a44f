"""The compute plan: every job of a preset with its Slurm requests (partition, CPUs, memory, GPUs, time), the
estimated GPU-hours of the GPU jobs, and totals per partition."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from x2softmax import config as xcfg
from x2softmax.cluster import SUBMIT_HOST_RULES, cpus_of, number
from x2softmax.vocabulary import IJB_SUITES

CHECKOUT = Path(__file__).resolve().parents[2]  # the plan dry-runs this checkout's Snakefile and profiles/
SLURM_PROFILE = CHECKOUT / "profiles" / "slurm"
_JOB_HEADER = re.compile(r"^(local)?(?:rule|checkpoint) (\w+):$")
_KEY_VALUE = re.compile(r"(\w+)=(.*?)(?=, \w+=|$)")

FLIP = 2  # every evaluation image is embedded with its horizontal flip


def dataset_images(config: Mapping[str, Any]) -> dict[str, int]:
    """Images per dataset the preset reads: the synthetic manifest if generated, else the dataset registry."""
    manifest = Path(config["data"]["root"]) / "MANIFEST.json"
    if config["synthetic"]:
        if not manifest.exists():
            return {}  # not generated yet: sizes are known once `x2softmax data synth` has run
        counts = json.loads(manifest.read_text(encoding="utf-8"))["counts"]
        sizes = {"train": counts["train"]["images"]}
        sizes.update({suite: counts[suite]["images"] for suite in IJB_SUITES if suite in counts})
        # distinct images of a set (embedded once each); manifests before version 2 have a fresh image per pair slot
        sizes.update({name: entry.get("images", 2 * entry["pairs"]) for name, entry in counts.get("val", {}).items()})
        return sizes
    from x2softmax.data.registry import load_registry

    sizes = {}
    for name, entry in load_registry().items():
        expect = entry.get("expect") or {}
        images = expect.get("num_images") or expect.get("images") or 2 * (expect.get("pairs") or 0)
        sizes[name] = int(images)
    return sizes


def toy_training_images(config: Mapping[str, Any]) -> int:
    """Images one toy-example job trains on (steps x batch size of its settings)."""
    from x2softmax.analysis.toy import TOY_DEFAULTS

    settings = {**TOY_DEFAULTS, **config["toy"]["settings"]}
    return int(settings["steps"]) * int(settings["batch_size"])


def throughput_source(config: dict[str, Any], measured: Path | None = None, throughput: float | None = None) -> str:
    """Set config['plan'] rates from gpu-check's JSON or --throughput; return a line saying which rates and whence."""
    plan = config["plan"]
    if measured is not None:
        result = json.loads(Path(measured).read_text(encoding="utf-8"))
        if result.get("mode") != "gpu" or not result.get("ok"):
            raise ValueError(f"{measured}: not a passed GPU run of gpu-check (mode {result.get('mode')!r}, "
                             f"ok {result.get('ok')!r}); its numbers are no GPU throughput")
        rates = result.get("throughput") or {}
        if result.get("finished") is False or not rates.get("train_images_per_s") or not rates.get("eval_images_per_s"):
            raise ValueError(f"{measured}: gpu-check did not finish its training and embedding checks; no rates to use")
        for key in ("train_images_per_s", "eval_images_per_s"):
            value = rates[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{measured}: throughput.{key} is {value!r}, not a finite positive rate")
        plan["train_images_per_s_per_gpu"] = float(rates["train_images_per_s"])
        plan["eval_images_per_s_per_gpu"] = float(rates["eval_images_per_s"])
        origin = f"measured by gpu-check on {result['device']} ({measured})"
    elif throughput:
        plan["train_images_per_s_per_gpu"] = float(throughput)
        origin = "training rate from --throughput, evaluation rate from config plan.eval_images_per_s_per_gpu"
    else:
        origin = ("assumed in config plan.* (not measured here: run `make gpu-check` on a GPU, then "
                  "`make plan MEASURED=results/gpu_check.json`)")
    return (f"Throughput per GPU: training {plan['train_images_per_s_per_gpu']:,.0f} images/s, evaluation "
            f"{plan['eval_images_per_s_per_gpu']:,.0f} images/s; {origin}")


def compute_plan(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per GPU-relevant job: job, gpus, mem_mb, runtime_min, images processed, estimated GPU-hours."""
    images = dataset_images(config)
    res = config["resources"]
    train_rate = config["plan"]["train_images_per_s_per_gpu"]
    eval_rate = config["plan"]["eval_images_per_s_per_gpu"]
    train_images = images.get("ms1mv3", images.get("train", 0)) * config["train"]["epochs"]
    eval_images = FLIP * (sum(images.get(b, 0) for b in config["evaluate"]["benchmarks"])
                          + sum(images.get(s, 0) for s in config["evaluate"]["ijb"]))
    rows = []
    for run in xcfg.runs(config):
        rows.append({"job": f"train[{run}]", "gpus": config["train"]["gpus"], **res["train"],
                     "images": train_images, "gpu_hours": train_images / train_rate / 3600})
        rows.append({"job": f"evaluate[{run}]", "gpus": config["evaluate"]["gpus"], **res["evaluate"],
                     "images": eval_images, "gpu_hours": eval_images / eval_rate / 3600})
    toy_images = toy_training_images(config)
    for loss in config["toy"]["losses"]:  # one job per loss trains every dimension
        images = toy_images * len(config["toy"]["dims"])
        rows.append({"job": f"toy[{loss}]", "gpus": 1, **res["toy"], "images": images,
                     "gpu_hours": images / train_rate / 3600})
    for row in rows:
        row["runtime_min"] = row.pop("runtime")
    return rows


def workflow_jobs(preset: str | None = None, profile: Path = SLURM_PROFILE) -> list[dict[str, Any]]:
    """Every job of the preset's DAG with the requests the profile gives it, read from Snakemake's dry run.

    The dry run applies the profile's default-resources and set-resources exactly as a real run does; it runs in
    an empty folder, so every job is listed. Keys: job, rule, local, partition, cpus, mem_mb, gpus, runtime_min.
    """
    cmd = [sys.executable, "-m", "snakemake", "-s", str(CHECKOUT / "Snakefile"), "--workflow-profile",
           str(profile), "--dry-run", "--forceall", "--cores", str(2**20)]  # threads uncapped, as on a cluster
    if preset:
        cmd += ["--configfile", str(xcfg.preset_path(preset))]
    with tempfile.TemporaryDirectory(prefix="x2s-plan-") as folder:
        proc = subprocess.run([*cmd, "-d", folder], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"plan: the Snakemake dry run failed: {(proc.stderr or proc.stdout).strip()[-1500:]}")
    return sorted(parse_dry_run(proc.stdout + proc.stderr), key=lambda j: (j["rule"], j["job"]))


def parse_dry_run(text: str) -> list[dict[str, Any]]:
    """The job blocks of a Snakemake dry run (rule, wildcards, threads, resources); target rules (no job) left out."""
    jobs: list[dict[str, Any]] = []
    block: dict[str, Any] | None = None
    for line in text.splitlines():
        if header := _JOB_HEADER.match(line):
            block = {"rule": header[2], "local": bool(header[1]), "wildcards": {}, "threads": 1, "resources": {},
                     "output": False}
            jobs.append(block)
        elif block is not None and line.startswith("    ") and ": " in line:
            key, value = line.strip().split(": ", 1)
            if key in ("wildcards", "resources"):
                block[key] = dict(_KEY_VALUE.findall(value))
            elif key == "threads":
                block["threads"] = int(value)
            elif key == "output":
                block["output"] = True
    rows = []
    for job in jobs:
        res = job["resources"]
        if not job["output"]:  # a target rule (all): nothing runs, nothing is submitted
            continue
        local = job["local"] or job["rule"] in SUBMIT_HOST_RULES  # a dry run prints no `localrule`
        label = f"{job['rule']}[{','.join(job['wildcards'].values())}]" if job["wildcards"] else job["rule"]
        rows.append({"job": label, "rule": job["rule"], "local": local,
                     "partition": "(submitting node)" if local else res.get("slurm_partition", "(default)"),
                     "cpus": cpus_of(res, job["threads"]), "mem_mb": number(res.get("mem_mb", 0)),
                     "gpus": number(res.get("gpu", 0)), "runtime_min": number(res.get("runtime", 0))})
    return rows


def format_plan(jobs: list[dict[str, Any]], estimates: list[dict[str, Any]]) -> str:
    """Every job with its requests and estimated GPU-hours, totals per partition, and the total estimate."""
    by_job = {r["job"]: r for r in estimates}
    header = (f"{'job':<40}{'partition':>18}{'cpus':>5}{'mem_mb':>8}{'gpus':>5}{'runtime_min':>12}{'images':>14}"
              f"{'gpu_hours':>10}")
    lines = [header, "-" * len(header)]
    totals: dict[str, dict[str, float]] = {}
    for job in jobs:
        est = by_job.get(job["job"], {})
        images = f"{est['images']:,}" if est else ""
        hours = f"{est['gpu_hours']:.2f}" if est else ""
        lines.append(f"{job['job']:<40}{job['partition']:>18}{job['cpus']:>5}{job['mem_mb']:>8}{job['gpus']:>5}"
                     f"{job['runtime_min']:>12}{images:>14}{hours:>10}")
        part = totals.setdefault(job["partition"], {"jobs": 0, "cpu_h": 0.0, "gpu_h": 0.0, "est": 0.0})
        part["jobs"] += 1
        part["cpu_h"] += job["cpus"] * job["runtime_min"] / 60
        part["gpu_h"] += job["gpus"] * job["runtime_min"] / 60
        part["est"] += est.get("gpu_hours", 0.0)
    lines += ["-" * len(header), "Totals per partition (requested = CPUs or GPUs x time limit):"]
    for name, part in totals.items():
        lines.append(f"  {name:<18} {part['jobs']:>4} jobs  {part['cpu_h']:>10,.1f} CPU-hours requested  "
                     f"{part['gpu_h']:>9,.1f} GPU-hours requested  {part['est']:>9,.2f} GPU-hours estimated")
    total = sum(r["gpu_hours"] for r in estimates)
    lines.append(f"{'total':<40}{len(jobs):>18} jobs{'':>34}{total:>10.2f}")
    return "\n".join(lines)


def data_plan(config: Mapping[str, Any]) -> str:
    """What the preset's real datasets need before training: present, to be downloaded, or to be placed by hand."""
    from x2softmax.data.datasets import dataset_path, instructions, preflight
    from x2softmax.data.registry import load_registry

    root = Path(config["data"]["root"])
    registry = load_registry()
    lines = [f"Data plan (root {root}):"]
    for name in config["data"]["required"]:
        entry = registry[name]
        if not preflight([name], root):
            lines.append(f"  {name}: present at {dataset_path(name, root)}")
        elif "from" in entry:
            lines.append(f"  {name}: comes with {entry['from']}")
        elif "gdrive" in entry.get("sources", {}):
            lines.append(f"  {name}: will be downloaded from Google Drive (id {entry['sources']['gdrive']['id']})"
                         " with the gdown extra; or: " + instructions(name, root))
        else:
            lines.append(f"  {name}: MANUAL, the run stops before training until it is in place: "
                         + instructions(name, root))
    return "\n".join(lines)
