"""gpu-check's workflow check: the smoke preset through the `gpu` profile with fp16 autocast, then a rerun.

Judged on what a correct run must show at smoke sizes: every metric either finite or marked "not measurable" in its
note (a TAR below 1/impostor pairs is missing by design), verification accuracy above chance in a pooled one-sided
binomial test over every run and set (so one small set's coin toss cannot fail a correct run), and a rerun that
does nothing. Each Snakemake call runs in its own process group, which is killed whole when its time is up.
`subset` (gpu-check --smoke-subset, what the device simulation's tests run) narrows the DAG to two losses' training
and evaluation and one rendered page (SUBSET_CONFIG, SUBSET_TARGETS); the verdict pools the runs the run's own
resolved config lists, so it judges what ran.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from x2softmax.config import runs

COPIED = ("Snakefile", "workflow", "config", "notebooks", "profiles", "envs", "src")
CHANCE_ALPHA = 1e-3  # a network at chance passes the accuracy test with this probability at most
# --smoke-subset: a baseline and the subject, each trained and evaluated (no ablation, no extra seed), and page 01
# rendered (papermill, then nbconvert's renderer; its provenance footer needs both runs and the summary table)
SUBSET_CONFIG = "run_losses: [softmax, x2softmax]\nrun_ablations: []\nseeds: {extra: [], runs: []}\n"
SUBSET_TARGETS = ("reports/01_margins.html",)


def run_killing_group(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run args in a new process group; on timeout the whole group (Snakemake and its jobs) is killed, then raise."""
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=max(timeout, 0.0))
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise TimeoutError(f"{' '.join(args[:2])} ... killed with its jobs after {timeout:.0f} s") from None
    except BaseException:  # SIGTERM (see gpucheck.main), Ctrl-C: no job outlives the check
        _kill_group(proc)
        raise
    return subprocess.CompletedProcess(args, proc.returncode, out, "")


def _kill_group(proc: subprocess.Popen[str]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    proc.communicate()


def _snakemake(project: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))
    return run_killing_group([exe, *args], project, timeout)


def unexplained_nan(metrics: pd.DataFrame) -> int:
    """Rows of a tidy metrics table whose value is missing without a "not measurable" note."""
    note = metrics["note"].astype(object).where(metrics["note"].notna(), "").astype(str) if "note" in metrics \
        else pd.Series("", index=metrics.index)
    return int((metrics["value"].isna() & ~note.str.startswith("not measurable")).sum())


def pooled_accuracy(metrics: pd.DataFrame, eval_root: Path) -> dict[str, Any]:
    """10-fold accuracy pooled over every run and set: correct pairs, pairs, and the one-sided p-value against 50 %."""
    from scipy.stats import binomtest

    acc = metrics[(metrics["metric"] == "accuracy_pct") & (metrics["protocol"] == "10fold") & metrics["value"].notna()]
    correct = pairs = 0
    for row in acc.itertuples():
        with np.load(eval_root / str(row.run) / "verification_scores.npz") as scores:
            n = int(len(scores[f"{row.dataset}/issame"]))
        pairs += n
        correct += int(round(float(row.value) / 100.0 * n))
    if pairs == 0:
        raise ValueError(f"{eval_root}: no 10-fold accuracy rows to judge")
    p_value = float(binomtest(correct, pairs, 0.5, alternative="greater").pvalue)
    return {"pooled_accuracy_pct": 100.0 * correct / pairs, "pooled_pairs": pairs, "cells": len(acc),
            "min_accuracy_pct": float(acc["value"].min()), "p_value_vs_chance": p_value,
            "above_chance": p_value < CHANCE_ALPHA}


def judge(project: Path) -> dict[str, Any]:
    """The smoke run's verdict on its summary: unexplained NaN cells and the pooled accuracy test, over the runs its
    resolved config (results/config.json) lists; a listed run without a 10-fold accuracy row fails it."""
    metrics = pd.read_csv(project / "results/summary/metrics.csv", dtype={"note": str})
    metrics["value"] = pd.to_numeric(metrics["value"], errors="coerce")
    listed = runs(json.loads((project / "results/config.json").read_text(encoding="utf-8")))
    judged = metrics[metrics["run"].isin(listed)]
    accuracy = judged[(judged["metric"] == "accuracy_pct") & (judged["protocol"] == "10fold")
                      & judged["value"].notna()]
    missing = [run for run in listed if run not in set(accuracy["run"])]
    nan = unexplained_nan(judged)
    result = {"runs": listed, "runs_without_accuracy": missing, "unexplained_nan_cells": nan,
              "not_measurable_cells": int(judged["value"].isna().sum()) - nan, "nan_free": nan == 0,
              **pooled_accuracy(judged, project / "results/eval")}
    result["above_chance"] = bool(result["above_chance"] and not missing)
    return result


def smoke_workflow(repo: Path, work: Path, gpus: int, dry: bool, timeout: float,
                   subset: bool = False) -> dict[str, Any]:
    """Run (dry: plan) the smoke preset with the gpu profile and amp fp16 in a copy (`subset`: only SUBSET_TARGETS
    under SUBSET_CONFIG); `timeout` covers both calls."""
    deadline = time.monotonic() + timeout
    project = work / "project"
    project.mkdir(parents=True)
    for name in COPIED:
        src = repo / name
        if src.is_dir():
            shutil.copytree(src, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, project / name)
    (project / "fp16.yaml").write_text("train: {amp: fp16}\n")
    if subset:
        (project / "subset.yaml").write_text(SUBSET_CONFIG)
    args = [*(SUBSET_TARGETS if subset else ()), "--profile", "profiles/gpu", "--resources", f"gpu={gpus}",
            "--configfile", "config/presets/smoke.yaml", "fp16.yaml", *(["subset.yaml"] if subset else [])]
    first = _snakemake(project, *args, *(["-n"] if dry else []), timeout=deadline - time.monotonic())
    result: dict[str, Any] = {"ran": not dry, "targets": list(SUBSET_TARGETS) if subset else ["all"],
                              "returncode": first.returncode}
    if first.returncode != 0:
        result.update(ok=False, error=first.stdout[-2000:])
        return result
    if dry:
        result.update(ok="rule train:" in first.stdout, planned=True)
        return result
    result.update(judge(project))
    second = _snakemake(project, *args, timeout=deadline - time.monotonic())
    result["second_run_does_nothing"] = "Nothing to be done" in second.stdout
    result["ok"] = bool(result["above_chance"] and result["nan_free"] and result["second_run_does_nothing"]
                        and second.returncode == 0)
    return result
