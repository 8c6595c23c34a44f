"""gpu-check's training measurements: the trainer against a plain PyTorch loop, the loader's rate, kill-and-resume."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from x2softmax import config as xcfg
from x2softmax.gpucheck.shapes import Shapes
from x2softmax.losses import SUBJECT
from x2softmax.rehearsal.memory import PeakRSS
from x2softmax.rehearsal.run import Interrupted, one_epoch, same_weights, stop_after, trained_weights
from x2softmax.runspec import RunSpec


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mb(device: torch.device, host: PeakRSS) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else host.peak_mb


def train_spec(shapes: Shapes, train_dir: Path, **train: Any) -> RunSpec:
    """The paper preset's x2softmax run spec at the check's shapes (fp16 autocast, in-memory batches)."""
    config = xcfg.load_config("paper")
    return one_epoch(xcfg.run_spec(config, SUBJECT)).updated(
        model={"backbone": shapes.backbone, "input_size": shapes.input_size, "embedding_size": shapes.embedding_size},
        data={"train_dir": str(train_dir), "in_memory": True, "workers": 0},
        train={"batch_size": shapes.batch_size, "amp": "fp16", "checkpoint_every": 10**9, "threads": 2,
               "val": {"every": 0, "data_dir": "", "sets": []}, **train},
    )


def trainer_rate(spec: RunSpec, shapes: Shapes, out: Path) -> dict[str, Any]:
    """Images/s of the trainer's own loop between the end of warm-up and the step before the last (which also writes
    the checkpoint); the hook synchronises the device at those two steps only, never in between."""
    from x2softmax.train.trainer import train

    device = torch.device(shapes.device)
    marks = (shapes.warmup_steps, shapes.warmup_steps + shapes.timed_steps)
    stamps: list[float] = []

    def on_step(step: int) -> None:
        if step in marks:
            _sync(device)
            stamps.append(time.perf_counter())

    _reset_peak(device)
    with PeakRSS() as host:
        summary = train(spec, out / "run", out / "ckpt", on_step=on_step)
    seconds = stamps[-1] - stamps[0]
    finite = summary["final_loss"] is not None and math.isfinite(summary["final_loss"])
    return {"ok": finite, "images_per_s": shapes.batch_size * shapes.timed_steps / seconds, "steps": shapes.timed_steps,
            "peak_memory_mb": _peak_mb(device, host), "final_loss": summary["final_loss"], "finite_loss": finite,
            "skipped_steps": summary["skipped_steps"],  # fp16 overflow steps while the scale settles (not failures)
            "partial_fc": spec.train.partial_fc}


def plain_rate(spec: RunSpec, shapes: Shapes) -> dict[str, Any]:
    """Images/s of a plain PyTorch loop on the same backbone, loss, optimizer, autocast, grad scaler and batches.

    Its batches come from the trainer's own in-memory batch source (the same seeded gather and flips), so the two
    loops do the same host-side batch work and differ only in what the trainer adds around each step.
    """
    from x2softmax.data.recordio import load_face_arrays
    from x2softmax.losses import build_loss
    from x2softmax.models import build_backbone
    from x2softmax.train.batches import EpochPlan, InMemoryBatches, normalise_images
    from x2softmax.train.stepping import use_fused_sgd

    device = torch.device(shapes.device)
    torch.manual_seed(0)
    images, labels = load_face_arrays(Path(spec.data.train_dir), size=shapes.input_size)
    model = build_backbone(shapes.backbone, shapes.embedding_size, shapes.input_size).to(device).train()
    loss_fn = build_loss(spec.loss.name, **spec.loss.hparams)
    weight = torch.nn.Parameter(torch.normal(0, 0.01, (shapes.num_classes, shapes.embedding_size), device=device))
    optimizer = torch.optim.SGD([*model.parameters(), weight], lr=0.1, momentum=0.9, weight_decay=5e-4,
                                **({"fused": True} if use_fused_sgd(device, torch.float16) else {}))  # as the trainer
    scaler = torch.amp.GradScaler(device.type)
    steps = shapes.warmup_steps + shapes.timed_steps
    started = 0.0
    _reset_peak(device)
    plan = EpochPlan(len(labels), shapes.batch_size, spec.train.seed)
    batches = InMemoryBatches(images, labels, plan)
    for step, (x, y) in zip(range(steps), batches.iterate(0)):
        if step == shapes.warmup_steps:
            _sync(device)
            started = time.perf_counter()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16):
            embeddings = model(normalise_images(x))
        cosine = F.linear(F.normalize(embeddings.float()), F.normalize(weight)).clamp(-1, 1)
        loss = F.cross_entropy(loss_fn.margin_logits(cosine, y, all_local=True), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        scaler.step(optimizer)
        scaler.update()  # no per-step read: the trainer reads the device only at log steps and the end
    _sync(device)
    return {"images_per_s": shapes.batch_size * shapes.timed_steps / (time.perf_counter() - started)}


def loader_rate(train_dir: Path, shapes: Shapes) -> dict[str, Any]:
    """Steady-state images/s of the streamed RecordIO loader (JPEG decode, flip, batching) with the preset's workers.

    The first two batches per worker are left out of the timing: they measure the workers' start, not whether a
    running loader keeps up with training.
    """
    from x2softmax.data.recordio import FaceRecordIO
    from x2softmax.train.batches import EpochPlan, StreamedBatches

    n = len(FaceRecordIO(train_dir))
    plan = EpochPlan(n, shapes.batch_size, 2048, 0, 1)
    batches = StreamedBatches(train_dir, shapes.input_size, plan, shapes.loader_workers,
                              pin_memory=shapes.device == "cuda")
    warmup = max(0, min(2 * max(1, shapes.loader_workers), plan.steps_per_epoch - 2))
    seen, started = 0, time.perf_counter()
    for step, (images, _) in enumerate(batches.iterate(0, 0)):
        if step == warmup:
            seen, started = 0, time.perf_counter()
        seen += len(images)
    return {"images_per_s": seen / (time.perf_counter() - started), "images": seen, "warmup_batches": warmup,
            "workers": shapes.loader_workers}


def kill_and_resume(spec: RunSpec, shapes: Shapes, out: Path) -> dict[str, Any]:
    """An interrupted-then-resumed run against an uninterrupted one: bit-exact, or the largest relative difference.

    Both runs are deterministic (cuDNN deterministic, cuBLAS workspace pinned). The comparison is exact first;
    where fp16 kernels still differ, it passes when the largest |difference| of any tensor is within 1e-3 of that
    tensor's largest |value| (a resume that lost state differs by the size of an update, far more).
    """
    from x2softmax.train.trainer import train

    every = max(1, shapes.resume_steps // 2)
    killed_after = every + 1  # one step past the checkpoint: that step is lost and redone
    spec = spec.updated(train={"deterministic": True, "checkpoint_every": every})
    train(spec, out / "full", out / "ckpt_full")
    try:
        train(spec, out / "cut", out / "ckpt_cut", on_step=stop_after(killed_after))
    except Interrupted:
        pass
    resumed = train(spec, out / "cut", out / "ckpt_cut")
    a, b = trained_weights(out / "full"), trained_weights(out / "cut")
    exact = same_weights(a, b)
    worst = 0.0
    for key in a:
        if a[key].is_floating_point():
            scale = float(a[key].abs().max()) or 1.0
            worst = max(worst, float((a[key] - b[key]).abs().max()) / scale)
    return {"ok": exact or worst <= 1e-3, "bit_exact": exact, "max_relative_difference": worst,
            "steps": resumed["steps"], "killed_after": killed_after, "resumed_at": killed_after // every * every,
            "finite": all(math.isfinite(float(t.float().abs().sum())) for t in b.values())}
