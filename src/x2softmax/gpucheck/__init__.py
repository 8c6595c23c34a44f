"""`make gpu-check`: everything a GPU run needs, checked in minutes on one GPU, summarised as one JSON line.

On a GPU: the smoke preset through the gpu profile with fp16, the trainer's images/s against a plain PyTorch loop
at iResNet-50 / 112x112 / batch 128 / 93,431 classes (full and partial FC 0.1) with peak GPU memory, the loader's
decode rate against the step rate, the embedding rate at batch 256, IJB-C-size pair scoring, and kill-and-resume.
`dry=True` runs the same code on the CPU at tiny shapes (the smoke workflow is planned, not run) and judges no
throughput target. Without a GPU and without `dry` it says so in one line and returns 0. With `out`, the summary
is rewritten after every check (`"finished": false` until the last), so a run cut short still leaves its results.
`smoke_subset` runs the smoke workflow's subset (two losses and one page, `smoke.SUBSET_TARGETS`) instead of its
whole DAG: the device simulation's tests use it; a lent machine's check runs everything.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

TRAINER_RATIO_TARGET = 0.95


CHECKS = ("smoke_workflow", "trainer_full_fc", "plain_loop", "trainer_partial_fc_0.1", "loader", "embedding",
          "ijb_scoring", "kill_and_resume")


def _run_checks(shapes: Any, work: Path, budget_s: float, dry: bool,
                progress: Callable[[dict[str, dict[str, Any]]], None], only: frozenset[str],
                run_smoke: bool, smoke_subset: bool) -> dict[str, Any]:
    import torch

    from x2softmax.gpucheck import evaluation, smoke, training
    from x2softmax.rehearsal.run import write_training_set

    started = time.perf_counter()
    checks: dict[str, dict[str, Any]] = {}

    def check(name: str, work_fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if name not in only:
            return {}
        if time.perf_counter() - started > budget_s:
            checks[name] = {"ok": False, "error": f"not run: the {budget_s:.0f} s budget was spent"}
            return checks[name]
        t0 = time.perf_counter()
        try:
            result = work_fn()
        except Exception as err:  # one failing check must not hide the others
            result = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        result.setdefault("ok", True)
        result["seconds"] = round(time.perf_counter() - t0, 2)
        checks[name] = result
        progress(checks)
        print(f"gpu-check: {name}: {'ok' if result['ok'] else 'FAILED'} ({result['seconds']} s)", file=sys.stderr,
              flush=True)
        return result

    gpus = torch.cuda.device_count() if not dry else 1
    check("smoke_workflow", lambda: smoke.smoke_workflow(Path.cwd(), work / "smoke", gpus, dry and not run_smoke,
                                                         timeout=max(60.0, 0.6 * budget_s), subset=smoke_subset))
    steps = shapes.warmup_steps + shapes.timed_steps + 1
    train_dir = functools.cache(lambda: write_training_set(work / "train", shapes.num_classes,
                                                           shapes.batch_size * steps, shapes.input_size))
    full = check("trainer_full_fc", lambda: training.trainer_rate(training.train_spec(shapes, train_dir()), shapes,
                                                                  work / "full_fc"))
    plain = check("plain_loop", lambda: training.plain_rate(training.train_spec(shapes, train_dir()), shapes))
    if "images_per_s" in full and "images_per_s" in plain:
        ratio = full["images_per_s"] / plain["images_per_s"]
        full["ratio_to_plain_loop"] = ratio
        full["ok"] = bool(full["ok"] and (ratio >= TRAINER_RATIO_TARGET or not shapes.enforce_targets))
    check("trainer_partial_fc_0.1", lambda: training.trainer_rate(
        training.train_spec(shapes, train_dir(), partial_fc=0.1), shapes, work / "pfc"))
    loader = check("loader", lambda: training.loader_rate(train_dir(), shapes))
    if "images_per_s" in loader and "images_per_s" in full:
        loader["train_images_per_s"] = full["images_per_s"]
        loader["feeds_the_gpu"] = loader["images_per_s"] >= full["images_per_s"]
        loader["ok"] = bool(loader["feeds_the_gpu"] or not shapes.enforce_targets)
    embed = check("embedding", lambda: evaluation.embedding_rate(shapes))
    if embed:
        embed["ok"] = bool(embed["ok"] and embed.get("finite", False))
    check("ijb_scoring", lambda: evaluation.ijb_scoring_time(shapes))
    check("kill_and_resume", lambda: training.kill_and_resume(training.train_spec(shapes, write_training_set(
        work / "resume_train", shapes.num_classes, shapes.batch_size * shapes.resume_steps, shapes.input_size, seed=1
    )), shapes, work / "resume"))
    throughput = {"train_images_per_s": full.get("images_per_s"), "plain_loop_images_per_s": plain.get("images_per_s"),
                  "ratio_to_plain_loop": full.get("ratio_to_plain_loop"),
                  "train_pfc_images_per_s": checks.get("trainer_partial_fc_0.1", {}).get("images_per_s"),
                  "loader_images_per_s": loader.get("images_per_s"), "eval_images_per_s": embed.get("images_per_s")}
    return {"checks": checks, "throughput": throughput, "elapsed_s": round(time.perf_counter() - started, 1)}


def main(dry: bool = False, out: Path | None = None, budget_s: float = 480.0, only: Iterable[str] = CHECKS,
         run_smoke: bool = False, smoke_subset: bool = False) -> int:
    """Run gpu-check (the checks named in `only`; dry with `run_smoke`: the smoke workflow run on the CPU, not only
    planned; `smoke_subset`: its two-loss, one-page subset); print one JSON summary line; return the exit status
    (0: passed or no GPU)."""
    only = frozenset(only)
    if only - set(CHECKS):
        raise ValueError(f"gpu-check: unknown check(s) {', '.join(sorted(only - set(CHECKS)))}; known: {CHECKS}")
    if dry:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the same code on the CPU, even on a GPU machine
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before any cuBLAS handle: the resume check
    import torch

    from x2softmax.gpucheck.shapes import DRY, GPU

    if not dry and not torch.cuda.is_available():
        print(f"gpu-check: no CUDA GPU visible to torch {torch.__version__}; nothing checked "
              "(`make gpu-check DRY=1` runs the checks on the CPU)")
        return 0
    shapes = DRY if dry else GPU
    device = "cpu (dry run)" if dry else torch.cuda.get_device_name(0)
    head = {"mode": "dry" if dry else "gpu", "device": device, "torch": torch.__version__,
            "shapes": {k: v for k, v in vars(shapes).items()}}

    def write(summary: dict[str, Any]) -> None:
        if out is not None:
            from x2softmax.io import atomic_write_text

            atomic_write_text(Path(out), json.dumps(summary, default=float) + "\n")

    def progress(checks: dict[str, dict[str, Any]]) -> None:
        write({**head, "checks": checks, "finished": False, "ok": False})

    work = Path(tempfile.mkdtemp(prefix="x2s-gpu-check-"))
    # A SIGTERM (the device script's hard limit) unwinds like an exit, so child process groups are killed first.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        result = _run_checks(shapes, work, budget_s, dry, progress, only, run_smoke, smoke_subset)
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(work, ignore_errors=True)
    summary = {**head, **result, "finished": True, "ok": all(c["ok"] for c in result["checks"].values())}
    write(summary)
    print(json.dumps(summary, default=float))
    return 0 if summary["ok"] else 1
