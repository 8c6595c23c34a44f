"""The compute plan: every job of a preset with its GPU, memory and runtime requests, and estimated GPU-hours."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from x2softmax import config as xcfg

FLIP = 2  # every evaluation image is embedded with its horizontal flip


def dataset_images(config: Mapping[str, Any]) -> dict[str, int]:
    """Images per dataset the preset reads: the synthetic manifest if generated, else the dataset registry."""
    manifest = Path(config["data"]["root"]) / "MANIFEST.json"
    if config["synthetic"]:
        if not manifest.exists():
            return {}  # not generated yet: sizes are known once `x2softmax data synth` has run
        counts = json.loads(manifest.read_text(encoding="utf-8"))["counts"]
        sizes = {"train": counts["train"]["images"]}
        sizes.update({suite: counts[suite]["images"] for suite in ("IJBB", "IJBC") if suite in counts})
        sizes.update({name: 2 * entry["pairs"] for name, entry in counts.get("val", {}).items()})
        return sizes
    from x2softmax.data.datasets import load_registry

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
    for loss in config["toy"]["losses"]:
        for dim in config["toy"]["dims"]:
            rows.append({"job": f"toy[{loss},{dim}d]", "gpus": 1, **res["toy"], "images": toy_images,
                         "gpu_hours": toy_images / train_rate / 3600})
    for row in rows:
        row["runtime_min"] = row.pop("runtime")
    return rows


def format_plan(rows: list[dict[str, Any]]) -> str:
    """The plan as a text table with a total line."""
    header = f"{'job':<34}{'gpus':>5}{'mem_mb':>9}{'runtime_min':>13}{'images':>14}{'gpu_hours':>11}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['job']:<34}{r['gpus']:>5}{r['mem_mb']:>9}{r['runtime_min']:>13}{r['images']:>14,}"
                     f"{r['gpu_hours']:>11.2f}")
    total = sum(r["gpu_hours"] for r in rows)
    lines += ["-" * len(header), f"{'total':<34}{'':>5}{'':>9}{'':>13}{'':>14}{total:>11.2f}"]
    return "\n".join(lines)


def data_plan(config: Mapping[str, Any]) -> str:
    """What the preset's real datasets need before training: present, to be downloaded, or to be placed by hand."""
    from x2softmax.data.datasets import dataset_path, instructions, load_registry, preflight

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
