"""The training loop: build backbone, sharded head, optimizer and schedule from a run spec; train; write outputs."""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from x2softmax.io import atomic_write_json, atomic_write_text, file_sha256
from x2softmax.losses import build_loss
from x2softmax.models import build_backbone
from x2softmax.phases import reading
from x2softmax.notices import warn
from x2softmax.runspec import DataSettings, RunSpec
from x2softmax.train import distributed as D
from x2softmax.train.batches import EpochPlan, InMemoryBatches, StreamedBatches, normalise_images
from x2softmax.train.checkpoint import (
    checkpoint_note,
    checkpoint_path,
    checkpoint_problem,
    load_checkpoint,
    resume_key,
    rng_state,
    set_rng_state,
)
from x2softmax.torchcompat import no_forward_buffer_sync_ddp
from x2softmax.torchfile import non_finite, save_plain
from x2softmax.train.head import ShardedHead
from x2softmax.train.runtime import (
    autocast_dtype,
    init_process_group,
    peak_memory_mb,
    seed_everything,
    set_deterministic,
    training_device,
)
from x2softmax.train.saturation import BELOW_KEY, MEDIAN_KEY, saturation_stats
from x2softmax.train.schedule import build_scheduler
from x2softmax.train.stepping import StepTally, TrainingDiverged, device_batches, scale_tensor, use_fused_sgd
from x2softmax.train.validation import Validation


def data_hash(train_dir: Path) -> str:
    """sha256 over the train.idx content, the property content (if present) and the train.rec size."""
    digest = hashlib.sha256()
    digest.update(file_sha256(train_dir / "train.idx").encode())
    prop = train_dir / "property"
    digest.update(file_sha256(prop).encode() if prop.is_file() else b"-")
    digest.update(str((train_dir / "train.rec").stat().st_size).encode())
    return digest.hexdigest()


def _check_training_data(data: DataSettings) -> tuple[Path, Any]:
    """Open the training set and check that it is whole; errors name the offending file."""
    from x2softmax.data.recordio import FaceRecordIO

    train_dir = Path(data.train_dir)
    if not train_dir.is_dir():
        raise FileNotFoundError(f"{train_dir}: training data directory not found")
    for name in ("train.rec", "train.idx"):
        if not (train_dir / name).is_file():
            raise FileNotFoundError(f"{train_dir / name}: missing training file")
    faces = FaceRecordIO(train_dir)
    if len(faces) == 0:
        raise ValueError(f"{train_dir / 'train.idx'}: no training images")
    first = faces.image(0)
    if first.shape[:2] != (faces.image_size, faces.image_size):
        raise ValueError(
            f"{train_dir / 'train.rec'}: images are {first.shape[1]}x{first.shape[0]}, "
            f"but {train_dir / 'property'} says {faces.image_size}x{faces.image_size}"
        )
    return train_dir, faces


def train(
    spec: RunSpec,
    out_dir: Path,
    ckpt_dir: Path,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train one run from its spec; write backbone.pt, head.pt, metrics.jsonl, summary.json to out_dir.

    Resumes from ckpt_dir when a checkpoint of the same spec is there. `on_step(global_step)` is called after
    every step (after any checkpoint of that step). Returns the summary dict (on every rank).
    """
    owns_group = init_process_group()
    try:
        return Trainer(spec, Path(out_dir), Path(ckpt_dir)).fit(on_step)
    finally:
        if owns_group:
            dist.destroy_process_group()


class Trainer:
    """One training run's state (built from the spec) and its loop (`fit`); `train_step` is one step of it."""

    def __init__(self, spec: RunSpec, out_dir: Path, ckpt_dir: Path) -> None:
        self.spec, self.out_dir, self.ckpt_dir = spec, out_dir, ckpt_dir
        t, m = spec.train, spec.model
        self.run_name = spec.run
        self.rank, self.world_size = D.rank(), D.world_size()
        self.device = training_device()
        self.batch_size, self.epochs, self.seed = t.batch_size, t.epochs, t.seed
        self.grad_clip, self.log_every, self.checkpoint_every = t.grad_clip, max(1, t.log_every), t.checkpoint_every
        self.autocast = autocast_dtype(t.amp, self.device)
        if self.device.type == "cpu":
            torch.set_num_threads(t.threads)
        set_deterministic(t.deterministic, self.device)

        self.train_dir, faces = _check_training_data(spec.data)
        self.num_classes = faces.num_classes
        self.input_size = m.input_size
        self.validation = Validation(t.val, self.input_size, self.device)
        self.plan = EpochPlan(len(faces), self.batch_size, self.seed, self.rank, self.world_size)
        self.total_steps = self.plan.steps_per_epoch * self.epochs
        if self.total_steps < 1:
            raise ValueError(f"run spec {self.run_name!r}: train.epochs must be >= 1, got {self.epochs}")

        # Model and head initialisation depend on the seed only (not the rank), so every world size starts alike.
        seed_everything(self.seed)
        backbone = build_backbone(m.backbone, m.embedding_size, self.input_size, float(m.dropout)).to(self.device)
        self.loss = build_loss(spec.loss.name, **spec.loss.hparams)
        self.head = ShardedHead(
            self.loss, self.num_classes, m.embedding_size, float(t.partial_fc),
            generator=torch.Generator().manual_seed(self.seed),
        ).to(self.device)
        self.backbone = backbone
        self.model: nn.Module = backbone
        if self.world_size > 1:
            # 1x1 convolution grads have equivalent but differently written strides; DDP's copy is harmless.
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            self.model = no_forward_buffer_sync_ddp(
                backbone, [self.device.index] if self.device.type == "cuda" else None
            )
        seed_everything(self.seed + self.rank)
        self.optimizer = torch.optim.SGD(
            [{"params": [p for p in backbone.parameters() if p.requires_grad]}, {"params": self.head.parameters()}],
            lr=float(t.lr), momentum=float(t.momentum), weight_decay=float(t.weight_decay),
            **({"fused": True} if use_fused_sgd(self.device, self.autocast) else {}),
        )
        self.scheduler = build_scheduler(self.optimizer, t.schedule, self.plan.steps_per_epoch, self.total_steps)
        # fp16 needs loss scaling (bf16 has fp32's exponent range); the scaler's state is plain numbers.
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.autocast is torch.float16, growth_interval=t.scaler_growth_interval,
        )
        self.tally = StepTally(self.device)  # per-step values kept on the device, read at log steps and checkpoints
        # A skipped fp16 step still advances the per-iteration schedule (as the authors' loop does): not a bug.
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
        if spec.data.in_memory:
            from x2softmax.data.recordio import load_face_arrays

            with reading():
                images, labels = load_face_arrays(self.train_dir, size=self.input_size)
            self.batches: InMemoryBatches | StreamedBatches = InMemoryBatches(images, labels, self.plan)
        else:
            if faces.image_size != self.input_size:
                warn(f"{self.train_dir / 'property'}: all {len(faces)} images are {faces.image_size}x{faces.image_size}"
                     f"; each is resized to the model's {self.input_size}x{self.input_size} as it is read")
            self.batches = StreamedBatches(
                self.train_dir, self.input_size, self.plan, spec.data.workers,
                pin_memory=self.device.type == "cuda",
            )
        self.key = resume_key(spec, self.world_size)
        self.ckpt_path = checkpoint_path(ckpt_dir, self.rank, self.world_size)
        self.global_step, self.train_time_s, self.val_time_s = 0, 0.0, 0.0
        self.checkpoint_step: int | None = None  # step of the checkpoint on disk for this spec, if any
        self.metrics: list[dict[str, Any]] = []
        self.val_best: dict[str, float] = {}
        self.val_final: dict[str, float] = {}

    # -- checkpoints -------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "resume_key": self.key,
            "global_step": self.global_step,
            "seed": self.seed,
            "backbone": self.backbone.state_dict(),
            "head": self.head.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "skipped_steps": self.skipped_steps,
            "rng": rng_state(),
            "metrics": self.metrics,
            "val_best": self.val_best,
            "val_final": self.val_final,
            "train_time_s": self.train_time_s,
            "val_time_s": self.val_time_s,
        }

    def _resume(self) -> None:
        state = load_checkpoint(self.ckpt_path, self.key)
        if state is not None and (problem := checkpoint_problem(
                state, {"backbone": self.backbone, "head": self.head}, self.optimizer)) is not None:
            print(f"x2softmax: checkpoint {self.ckpt_path}: {problem}; starting fresh", file=sys.stderr)
            state = None  # checked before anything is applied, so nothing of it is half loaded
        step = torch.tensor([-1 if state is None else state["global_step"]], dtype=torch.float64)
        if self.world_size > 1:  # every rank must resume from the same step, or all start fresh
            low, high = step.clone(), step.clone()
            dist.all_reduce(low, dist.ReduceOp.MIN)
            dist.all_reduce(high, dist.ReduceOp.MAX)
            if low.item() != high.item():
                if state is not None:
                    print(f"x2softmax: rank checkpoints in {self.ckpt_dir} disagree; starting fresh", file=sys.stderr)
                state = None
        if state is None:
            return
        self.backbone.load_state_dict(state["backbone"])
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.tally.skipped.fill_(int(state["skipped_steps"]) if "skipped_steps" in state else 0)
        set_rng_state(state["rng"])
        self.global_step = self.checkpoint_step = int(state["global_step"])
        self.train_time_s, self.val_time_s = float(state["train_time_s"]), float(state["val_time_s"])
        self.metrics = list(state["metrics"])
        self.val_best, self.val_final = dict(state["val_best"]), dict(state["val_final"])
        if self.rank == 0:
            print(f"x2softmax: resuming {self.run_name} at step {self.global_step}/{self.total_steps}", file=sys.stderr)

    # -- the loop ----------------------------------------------------------------------------------------------
    @property
    def skipped_steps(self) -> int:
        """fp16 steps the grad scaler skipped (gradient overflow) so far; waits for the device."""
        return int(self.tally.skipped.item())

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One optimisation step of the run, reading nothing back from the device itself; returns device tensors
        (loss averaged over ranks, accuracy, backbone grad norm). A non-finite loss or grad norm is kept in
        `self.tally` as step `global_step + 1` (the caller advances global_step) and raised by the loop's next read."""
        step = self.global_step + 1
        images = normalise_images(images.to(self.device, non_blocking=True))
        labels = labels.to(self.device, non_blocking=True)
        amp = (
            torch.autocast(self.device.type, dtype=self.autocast) if self.autocast is not None else nullcontext()
        )
        with amp:
            embeddings = self.model(images)
        loss, acc = self.head(embeddings.float(), labels)
        mean_loss = D.all_reduce_mean(loss.detach())
        self.tally.bad_loss.record(mean_loss, step)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        max_norm = float(self.grad_clip) if self.grad_clip else math.inf
        grad_norm = nn.utils.clip_grad_norm_(self.backbone.parameters(), max_norm)  # of the unscaled gradients
        self.scaler.step(self.optimizer)  # skipped when a gradient is inf/NaN (fp16 overflow)
        if self.scaler.is_enabled():  # update() halves the scale exactly when the step was skipped
            scale_before = scale_tensor(self.scaler).clone()
            self.scaler.update()
            self.tally.count_skip(scale_before, scale_tensor(self.scaler))
        else:  # the scaler skips steps with a non-finite gradient; without it the weights took it
            self.tally.bad_grad_norm.record(grad_norm, step)
        self.scheduler.step()
        return mean_loss, acc.detach(), grad_norm

    def _stop_if_diverged(self) -> None:
        """Raise TrainingDiverged naming the first non-finite step since the start, if there was one."""
        if (found := self.tally.divergence()) is not None:
            self._diverged(*found)

    def _diverged(self, what: str, step: int) -> None:
        """Stop training at a non-finite step, saying which checkpoint (taken before it) is kept."""
        raise TrainingDiverged(
            f"run {self.run_name!r}: {what} at step {step}; training stopped, "
            f"{checkpoint_note(self.ckpt_path, self.checkpoint_step)}"
        )

    def _checkpoint(self) -> None:
        """Save the resumable state unless a weight is non-finite (then stop: that state is never saved)."""
        named = [*(("backbone." + k, v) for k, v in self.backbone.state_dict().items()),
                 *(("head." + k, v) for k, v in self.head.state_dict().items())]
        bad = non_finite(named)
        flag = torch.tensor([0.0 if bad is None else 1.0], device=self.device)
        if self.world_size > 1:  # the head is sharded: every rank must stop together
            dist.all_reduce(flag, dist.ReduceOp.MAX)
        if flag.item() > 0:
            self._diverged(f"weight {bad or '(on another rank)'} is non-finite", self.global_step)
        save_plain(self.ckpt_path, self._state())
        self.checkpoint_step = self.global_step

    def fit(self, on_step: Callable[[int], None] | None) -> dict[str, Any]:
        """Run (or resume) the training loop, then write the outputs; returns the summary."""
        self._resume()
        self.model.train()
        self.head.train()
        progress = tqdm(
            total=self.total_steps, initial=self.global_step, desc=self.run_name, unit="step",
            file=sys.stderr, disable=self.rank != 0, dynamic_ncols=True,
        )
        try:
            self._loop(progress, on_step)
        finally:
            progress.close()  # ends the bar's line, so that an error message starts on a line of its own
        return self._write_outputs()

    def _loop(self, progress: tqdm, on_step: Callable[[int], None] | None) -> None:
        """Steps from the current global step to the end, logging, validating and checkpointing as configured.

        The device is read only after a step that logs, validates or checkpoints (and after the last): a non-finite
        step is raised there, before anything of that step is logged or saved.
        """
        window_steps = 0
        window_log_probs: list[torch.Tensor] = []  # log p_y of every sample of the window (saturation diagnostic)
        window_train_time = self.train_time_s
        tick = time.perf_counter()
        images_per_step = self.batch_size * self.world_size
        steps_per_epoch = self.plan.steps_per_epoch
        while self.global_step < self.total_steps:
            epoch, start = divmod(self.global_step, steps_per_epoch)
            for images, labels in device_batches(self.batches.iterate(epoch, start), self.device):
                loss, acc, grad_norm = self.train_step(images, labels)
                window_log_probs.append(self.head.target_log_prob)
                self.tally.add(loss, acc)
                self.global_step += 1
                window_steps += 1
                last = self.global_step == self.total_steps
                log = self.global_step % self.log_every == 0 or last
                validate = self.validation.due(self.global_step, last)
                save = last or (self.checkpoint_every > 0 and self.global_step % self.checkpoint_every == 0)
                if log or validate or save:
                    self._stop_if_diverged()  # waits for the device: its wait counts as training time
                self.train_time_s += time.perf_counter() - tick
                if log:
                    elapsed = self.train_time_s - window_train_time
                    loss_sum, acc_sum = self.tally.take_window()
                    line = {
                        "step": self.global_step,
                        "epoch": self.global_step / steps_per_epoch,
                        "loss": loss_sum / window_steps,
                        "acc": acc_sum / window_steps,
                        "lr": self.optimizer.param_groups[0]["lr"],
                        "grad_norm": float(grad_norm),
                        "images_per_s": images_per_step * window_steps / max(elapsed, 1e-9),
                        **saturation_stats(torch.cat(window_log_probs)),
                    }
                    if self.scaler.is_enabled():
                        line.update(amp_scale=self.scaler.get_scale(), skipped_steps=self.skipped_steps)
                    self.metrics.append(line)
                    progress.set_postfix(loss=f"{line['loss']:.3f}", acc=f"{line['acc']:.3f}",
                                         img_s=f"{line['images_per_s']:.0f}")
                    window_steps, window_log_probs, window_train_time = 0, [], self.train_time_s
                if validate:
                    started = time.perf_counter()
                    self._validate()
                    self.val_time_s += time.perf_counter() - started
                if save:
                    self._checkpoint()
                progress.update(1)
                if on_step is not None:
                    on_step(self.global_step)
                tick = time.perf_counter()

    def _validate(self) -> None:
        if self.rank == 0:
            scores = self.validation.run(self.backbone)
            for name, accuracy in scores.items():
                self.metrics.append({"step": self.global_step, "val_set": name, "accuracy": accuracy})
                self.val_best[name] = max(accuracy, self.val_best.get(name, -math.inf))
            self.val_final = scores
        if self.world_size > 1:
            dist.barrier()

    # -- outputs -----------------------------------------------------------------------------------------------
    def _write_outputs(self) -> dict[str, Any]:
        weight = self.head.gathered_weight()
        logged = [line for line in self.metrics if "loss" in line]
        summary: dict[str, Any] = {
            "run": self.run_name,
            "loss": self.spec.loss.name,
            "spec": self.spec.to_dict(),
            "data_hash": data_hash(self.train_dir),
            "num_classes": self.num_classes,
            "steps": self.global_step,
            "epochs": self.epochs,
            "steps_per_epoch": self.plan.steps_per_epoch,
            "wall_time_s": self.train_time_s + self.val_time_s,
            "train_time_s": self.train_time_s,
            "images_per_s": self.global_step * self.batch_size * self.world_size / max(self.train_time_s, 1e-9),
            "final_loss": logged[-1]["loss"] if logged else None,
            "final_acc": logged[-1]["acc"] if logged else None,
            **{f"final_{key}": logged[-1].get(key) if logged else None for key in (MEDIAN_KEY, BELOW_KEY)},
            "device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu",
            "world_size": self.world_size,
            "peak_memory_mb": peak_memory_mb(self.device),
            "amp": str(self.autocast).removeprefix("torch.") if self.autocast is not None else "none",
            "skipped_steps": self.skipped_steps,
        }
        if self.val_final:
            summary["val_best"], summary["val_final"] = self.val_best, self.val_final
        if self.rank == 0:
            backbone = {k: v.detach().cpu() for k, v in self.backbone.state_dict().items()}
            save_plain(self.out_dir / "backbone.pt", backbone)
            save_plain(self.out_dir / "head.pt",
                       {"weight": weight, "loss": {k: v.cpu() for k, v in self.loss.state_dict().items()}})
            atomic_write_text(
                self.out_dir / "metrics.jsonl", "".join(json.dumps(line) + "\n" for line in self.metrics)
            )
            atomic_write_json(self.out_dir / "summary.json", summary)
        if self.world_size > 1:
            dist.barrier()
        return summary
