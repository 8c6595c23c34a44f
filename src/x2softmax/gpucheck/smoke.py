"""gpu-check's workflow check: the smoke preset through the `gpu` profile with fp16 autocast, then a rerun."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

COPIED = ("Snakefile", "workflow", "config", "notebooks", "profiles", "envs", "src")


def _snakemake(project: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))
    return subprocess.run([exe, *args], cwd=project, capture_output=True, text=True, timeout=timeout)


def smoke_workflow(repo: Path, work: Path, gpus: int, dry: bool, timeout: float) -> dict[str, Any]:
    """Run (dry: plan) the smoke preset with the gpu profile and amp fp16 in a copy of the project."""
    project = work / "project"
    project.mkdir(parents=True)
    for name in COPIED:
        src = repo / name
        if src.is_dir():
            shutil.copytree(src, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, project / name)
    (project / "fp16.yaml").write_text("train: {amp: fp16}\n")
    args = ["--profile", "profiles/gpu", "--resources", f"gpu={gpus}", "--configfile", "config/presets/smoke.yaml",
            "fp16.yaml"]
    first = _snakemake(project, *args, *(["-n"] if dry else []), timeout=timeout)
    result: dict[str, Any] = {"ran": not dry, "returncode": first.returncode}
    if first.returncode != 0:
        result.update(ok=False, error=(first.stdout + first.stderr)[-2000:])
        return result
    if dry:
        result.update(ok="rule train:" in first.stdout + first.stderr, planned=True)
        return result
    metrics = pd.read_csv(project / "results/summary/metrics.csv")
    acc = metrics[(metrics["metric"] == "accuracy_pct") & (metrics["protocol"] == "10fold")]
    nan_free = bool(metrics["value"].notna().all())
    second = _snakemake(project, *args, timeout=timeout)
    idle = "Nothing to be done" in second.stdout + second.stderr
    result.update(min_accuracy_pct=float(acc["value"].min()), above_chance=bool((acc["value"] > 50).all()),
                  nan_free=nan_free, second_run_does_nothing=idle)
    result["ok"] = result["above_chance"] and nan_free and idle and second.returncode == 0
    return result
