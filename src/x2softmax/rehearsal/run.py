"""The rehearsal: the preset's own training, checkpoint, resume and evaluation code at the paper's shapes, few steps.

Writes into `out_dir`: data/ (a training RecordIO declaring the preset's full class count, with a handful of
112x112 JPEGs whose labels span every class id range, and a small evaluation root in the real formats),
rehearsal.tsv (one row per step kind: images, seconds, time per image, peak host memory, parameter and head sizes),
scale_checks.tsv (x2softmax.rehearsal.scale) and rehearsal.json (both, plus the settings and the verdict).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from x2softmax import config as xcfg
from x2softmax.io import atomic_write_json
from x2softmax.losses import SUBJECT
from x2softmax.rehearsal.memory import PeakRSS
from x2softmax.rehearsal.scale import paper_sizes, scale_checks
from x2softmax.runspec import RunSpec
from x2softmax.vocabulary import BENCHMARKS, IJB_SUITES, settings_key

MIB = 2**20


@dataclasses.dataclass
class RehearsalSettings:
    """What the rehearsal runs: which runs, how many steps at which batch, and which extra step kinds."""

    runs: list[str] | None = None  # None: every run of the preset (losses and ablations)
    steps: int = 1  # optimisation steps per run (the resume check runs 2)
    batch_size: int = 2  # images per step
    threads: int = 2
    workers: int = 1  # data-loader workers of the streamed path (the preset's path, fewer processes)
    backbone: str | None = None  # None: the preset's (the reduced form in the tests swaps in iresnet_tiny)
    amp: str = "none"  # autocast of the per-run steps: CPU fp16 kernels are ~6x slower than fp32
    resume_amp: str | None = None  # autocast of the resume check: None = the preset's (fp16: scaler in the checkpoint)
    partial_fc: float = 0.1  # the extra partial-FC run of the first run; 0 skips it
    each_run: bool = True  # a few steps of every run; False: only the first run's partial-FC and resume checks
    resume: bool = True  # kill-and-resume of the first run, compared bit for bit
    evaluate: bool = True
    # None: all of the preset's benchmarks / suites
    benchmarks: list[str] | None = dataclasses.field(default_factory=lambda: [BENCHMARKS[0]])
    suites: list[str] | None = dataclasses.field(default_factory=lambda: [IJB_SUITES[-1]])
    eval_pairs: int = 20  # pairs per .bin set (the 10-fold protocol needs a multiple of 20)
    ijb_subjects: int = 2


class _Table:
    """Rows of the rehearsal table, one per step kind."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def measure(self, kind: str, images: int, work: Callable[[], Any], **sizes: Any) -> Any:
        """Run `work`, add its row (time per image, peak RSS) and return its result."""
        with PeakRSS() as memory:
            started = time.perf_counter()
            result = work()
            seconds = time.perf_counter() - started
        self.rows.append({"kind": kind, "images": images, "seconds": round(seconds, 3),
                          "s_per_image": round(seconds / images, 4) if images else None,
                          "peak_rss_mb": round(memory.peak_mb, 1), **sizes})
        print(f"rehearse: {kind}: {seconds:.1f} s, peak {memory.peak_mb:.0f} MiB", flush=True)
        return result


def write_training_set(out_dir: Path, num_classes: int, images: int, size: int, seed: int = 0) -> Path:
    """A RecordIO declaring `num_classes` classes with `images` random JPEGs whose labels include 0 and C-1."""
    from x2softmax.data.images import encode_image
    from x2softmax.data.recordio import write_face_recordio

    rng = np.random.default_rng(seed)
    labels = np.sort(np.concatenate([[0, num_classes - 1], rng.integers(0, num_classes, max(0, images - 2))]))
    labels = labels[:images]
    samples = ((int(c), encode_image(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), ".jpg", 92))
               for c in labels)
    return write_face_recordio(out_dir, samples, num_classes, size)


def write_eval_root(root: Path, benchmarks: list[str], pairs: int, subjects: int) -> Path:
    """A small evaluation root in the real formats (112x112 .bin sets, IJB suites with loose crops and meta)."""
    from x2softmax.data.synthetic import generate

    tiny = {"seed": 11, "train": {"identities": 2, "families": 1, "images_min": 1, "images_max": 1},
            "eval": {"identities": 4 * subjects, "families": subjects},
            "val": {"pairs": pairs, "identities": 4 * subjects, "images": 4}}
    for suite in map(settings_key, IJB_SUITES):
        tiny[suite] = {"subjects": subjects, "templates": [2, 2], "media": [1, 1], "frames": [1, 1],
                       "video_prob": 0.0, "impostor_pairs": 50}
    generate(tiny, root)
    for name in benchmarks:  # sets the generator has no recipe for (vgg2_fp) reuse a profile set's file
        if name not in BENCHMARKS:
            shutil.copyfile(root / "val" / "cfp_fp.bin", root / "val" / f"{name}.bin")
    return root


def one_epoch(spec: RunSpec) -> RunSpec:
    """The spec trained for one epoch, its multistep milestones compressed into that epoch (same shape of schedule)."""
    schedule = spec.train.schedule
    milestones = [float(m) / spec.train.epochs for m in schedule.milestones]
    return spec.updated(train={"epochs": 1, "schedule": dataclasses.replace(schedule, milestones=tuple(milestones))})


def _spec(config: Mapping[str, Any], run: str, train_dir: Path, settings: RehearsalSettings,
          **train: Any) -> RunSpec:
    spec = one_epoch(xcfg.run_spec(config, run))
    return spec.updated(
        data={"train_dir": str(train_dir), "workers": min(settings.workers, spec.data.workers)},
        model={"backbone": settings.backbone or spec.model.backbone},
        train={"batch_size": settings.batch_size, "threads": settings.threads, "amp": settings.amp,
               "checkpoint_every": 10**9, "val": {"every": 0, "data_dir": "", "sets": []}, **train},
    )


class Interrupted(Exception):
    """Raised after a step to simulate a killed job."""


def stop_after(step: int) -> Callable[[int], None]:
    """A training on_step hook that raises Interrupted once `step` is done (a job killed there)."""
    def hook(global_step: int) -> None:
        if global_step == step:
            raise Interrupted(step)

    return hook


def trained_weights(out: Path) -> dict[str, torch.Tensor]:
    """The backbone's state and the head's class centres ("head.weight") a training run wrote to `out`."""
    state = dict(torch.load(out / "backbone.pt", weights_only=True))
    state["head.weight"] = torch.load(out / "head.pt", weights_only=True)["weight"]
    return state


def same_weights(x: dict[str, torch.Tensor], y: dict[str, torch.Tensor]) -> bool:
    """Whether two trained_weights() are equal bit for bit."""
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def _train_rows(table: _Table, config: Mapping[str, Any], runs: list[str], train_dir: Path, resume_dir: Path,
                work: Path, settings: RehearsalSettings, sizes: dict[str, Any]) -> dict[str, Any]:
    from x2softmax.train.trainer import train

    images = settings.steps * settings.batch_size
    checks: dict[str, Any] = {}
    for index, run in enumerate(runs if settings.each_run else []):
        spec = _spec(config, run, train_dir, settings)
        summary = table.measure(f"train[{run}]", images, lambda s=spec, r=run: train(
            s, work / "train" / r, work / "ckpt" / r), **sizes)
        checks[f"finite loss [{run}]"] = summary["final_loss"] is not None and bool(np.isfinite(summary["final_loss"]))
        shutil.rmtree(work / "ckpt" / run)  # ~0.8 GB each at paper size
        if index or settings.resume:  # the evaluation reads the resume check's model, else the first run's
            shutil.rmtree(work / "train" / run)
    first = runs[0]
    if settings.partial_fc:
        spec = _spec(config, first, train_dir, settings, partial_fc=settings.partial_fc)
        summary = table.measure(f"train[{first}] partial_fc={settings.partial_fc:g}", images,
                                lambda: train(spec, work / "train_pfc", work / "ckpt_pfc"),
                                **{**sizes, "head_sampled": max(1, int(settings.partial_fc * sizes["head_classes"]))})
        checks["finite loss [partial FC]"] = bool(np.isfinite(summary["final_loss"] or np.nan))
        shutil.rmtree(work / "ckpt_pfc")
    if settings.resume:
        amp = settings.resume_amp or str(config["train"]["amp"])
        spec = _spec(config, first, resume_dir, settings, checkpoint_every=1, deterministic=True, amp=amp)
        table.measure(f"train[{first}] amp={amp} uninterrupted", 2 * settings.batch_size,
                      lambda: train(spec, work / "full", work / "ckpt_full"), **sizes)
        try:
            train(spec, work / "cut", work / "ckpt_cut", on_step=stop_after(1))
        except Interrupted:
            pass
        from x2softmax.torchfile import save_plain
        from x2softmax.train.checkpoint import load_checkpoint, resume_key

        ckpt = work / "ckpt_cut" / "last.pt"
        state = table.measure("checkpoint load", 0, lambda: load_checkpoint(ckpt, resume_key(spec, 1)),
                              checkpoint_mb=round(ckpt.stat().st_size / MIB, 1))
        checks["checkpoint readable"] = state is not None
        if amp == "fp16":
            checks["grad-scaler state in the checkpoint"] = bool(state and state["scaler"].get("scale"))
        table.measure("checkpoint save", 0, lambda: save_plain(work / "ckpt_copy.pt", state),
                      checkpoint_mb=round(ckpt.stat().st_size / MIB, 1))
        del state
        table.measure(f"train[{first}] amp={amp} resumed", settings.batch_size,
                      lambda: train(spec, work / "cut", work / "ckpt_cut"), **sizes)
        checks["bit-exact resume"] = same_weights(trained_weights(work / "full"), trained_weights(work / "cut"))
    return checks


def _eval_rows(table: _Table, config: Mapping[str, Any], model_dir: Path, run: str, work: Path,
               settings: RehearsalSettings) -> dict[str, Any]:
    from x2softmax.data.align import align_ijb_suite
    from x2softmax.evaluate.run import evaluate_model

    benchmarks = list(settings.benchmarks or config["evaluate"]["benchmarks"])
    suites = list(settings.suites or config["evaluate"]["ijb"])
    root = table.measure("write evaluation data (real formats)", 0, lambda: write_eval_root(
        work / "evaldata", benchmarks, settings.eval_pairs, settings.ijb_subjects))
    aligned_images = 0
    for suite in suites:
        store = table.measure(f"align {suite}", 0, lambda s=suite: align_ijb_suite(
            root / s, s, work / "aligned" / s))
        aligned_images += len(np.load(store / "images.npy", mmap_mode="r"))
    embedded = 2 * (2 * settings.eval_pairs * len(benchmarks) + aligned_images)  # every image and its flip
    metrics = table.measure("evaluate (.bin sets + IJB)", embedded, lambda: evaluate_model(
        model_dir, work / "eval", run=run, loss=run, data_root=root, benchmarks=benchmarks,
        protocols=list(config["evaluate"]["protocols"]), ijb=suites, aligned_root=work / "aligned",
        ijb_mode=config["evaluate"]["ijb_mode"], batch_size=int(config["evaluate"]["batch_size"]), device="cpu"))
    frame = pd.read_csv(metrics)
    accuracy = frame.loc[frame["metric"] == "accuracy_pct", "value"]  # TAR at FARs a tiny suite cannot reach is NaN
    return {"evaluation covers every set": set(frame["dataset"]) == set(benchmarks) | set(suites),
            "finite verification accuracy": bool(len(accuracy)) and bool(np.isfinite(accuracy).all())}


def reduced_settings(threads: int = 2) -> RehearsalSettings:
    """The reduced form the tests run: one run, iresnet_tiny at the paper's input size and head, every step kind."""
    return RehearsalSettings(runs=[SUBJECT], backbone="iresnet_tiny", threads=threads, each_run=False)


def rehearse(config: Mapping[str, Any], out_dir: Path, settings: RehearsalSettings | None = None) -> dict[str, Any]:
    """Run the rehearsal of a preset; write its tables into out_dir; return {rows, scale, checks, ok}."""
    from x2softmax.data.registry import load_registry
    from x2softmax.models import build_backbone

    settings = settings or RehearsalSettings()
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    work = out_dir / "work"
    if config["synthetic"]:
        raise ValueError("rehearsal: the preset uses synthetic data; rehearse a real-data preset (PRESET=paper)")
    registry = load_registry()
    num_classes = paper_sizes(registry)["classes"]
    runs = list(settings.runs or xcfg.runs(config))
    unknown = sorted(set(runs) - set(xcfg.runs(config)))
    if unknown:
        raise ValueError(f"rehearsal: {unknown} are not runs of the preset (its runs: {xcfg.runs(config)})")
    model = {**config["model"], "backbone": settings.backbone or config["model"]["backbone"]}
    emb, size = int(model["embedding_size"]), int(model["input_size"])
    params = sum(p.numel() for p in build_backbone(model["backbone"], emb, size).parameters())
    sizes = {"backbone_params": params, "head_classes": num_classes,
             "head_mb": round(num_classes * emb * 4 / MIB, 1)}
    torch.set_num_threads(settings.threads)
    table = _Table()
    images = settings.steps * settings.batch_size
    train_dir = table.measure("write training RecordIO", images, lambda: write_training_set(
        out_dir / "data" / "train", num_classes, images, size))
    resume_dir = write_training_set(out_dir / "data" / "resume", num_classes, 2 * settings.batch_size, size, seed=1)
    checks = _train_rows(table, config, runs, train_dir, resume_dir, work, settings, sizes)
    if settings.evaluate:
        model_dir = work / "full" if settings.resume else work / "train" / runs[0]  # a model both forms train
        checks.update(_eval_rows(table, config, model_dir, runs[0], work, settings))
    scale = scale_checks(config, registry)
    checks["scale checks"] = all(row["ok"] for row in scale)
    result = {"settings": dataclasses.asdict(settings), "model": dict(model), "rows": table.rows, "scale": scale,
              "checks": checks, "ok": all(checks.values())}
    pd.DataFrame(table.rows).to_csv(out_dir / "rehearsal.tsv", sep="\t", index=False)
    pd.DataFrame(scale).to_csv(out_dir / "scale_checks.tsv", sep="\t", index=False)
    atomic_write_json(out_dir / "rehearsal.json", result)
    shutil.rmtree(work / "ckpt", ignore_errors=True)  # checkpoints at paper size are large; the table has their size
    return result


def format_rehearsal(result: Mapping[str, Any]) -> str:
    """The rehearsal table, the scale checks and the verdict as text."""
    def number(value: Any) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 100 else f"{value:.4g}"

    frame = pd.DataFrame(result["rows"])
    for column in frame.columns[2:]:
        frame[column] = frame[column].map(number)
    scale = pd.DataFrame(result["scale"])[["check", "value", "limit", "unit", "ok"]]
    scale["value"], scale["limit"] = scale["value"].map(number), scale["limit"].map(number)
    checks = "\n".join(f"  {'ok  ' if ok else 'FAIL'} {name}" for name, ok in result["checks"].items())
    verdict = "rehearsal passed" if result["ok"] else "rehearsal FAILED"
    return (f"{frame.to_string(index=False)}\n\nScale checks:\n{scale.to_string(index=False)}\n\nChecks:\n{checks}\n"
            f"{verdict}")
