"""What keeps the device busy between the trainer's reads of it: per-step values tallied on the device, batches
copied ahead (CUDA), and the fused SGD step of fp16 runs on CUDA.

The trainer reads the tally only where a value is really needed (log steps, validation, checkpoints, the end), so
its loop adds no wait for the device to a step. The head's accuracy, the saturation diagnostic and the sharded
cross-entropy gather their targets without boolean indexing (no wait), and the margin losses check their labels'
range only on the CPU and, on one process, take their target rows as 0..N-1 (`all_local`) instead of finding
them with `torch.nonzero`. What still waits once per step on CUDA: that `torch.nonzero` across several ranks
(labels of other shards are -1) and partial FC's `torch.unique` (dynamic shapes). A non-finite loss or gradient
norm is recorded with the step it first occurred at and reported when the tally is next read, before any
checkpoint could save weights updated after it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import torch

T = TypeVar("T")


class TrainingDiverged(RuntimeError):
    """A step produced a non-finite loss, gradient or weight; the message says which checkpoint is kept."""


class FirstNonFinite:
    """The first step at which a scalar was non-finite and its value, kept on the device (step 0: none yet)."""

    def __init__(self, device: torch.device) -> None:
        self.step = torch.zeros((), dtype=torch.int64, device=device)
        self.value = torch.zeros((), dtype=torch.float64, device=device)

    def record(self, value: torch.Tensor, step: int) -> None:
        """Note `value` (0-dim) at `step` if it is non-finite and nothing was noted before; never waits."""
        first = (self.step == 0) & ~torch.isfinite(value)
        self.step = torch.where(first, step, self.step)
        self.value = torch.where(first, value.detach().double(), self.value)

    def read(self) -> tuple[int, float] | None:
        """(step, value) of the first non-finite value, or None; waits for the device."""
        step, value = int(self.step.item()), float(self.value.item())
        return (step, value) if step > 0 else None


class StepTally:
    """Running per-step values on the device: the first non-finite loss and gradient norm, the fp16 steps the grad
    scaler skipped, and the loss and accuracy sums of the current logging window."""

    def __init__(self, device: torch.device) -> None:
        self.bad_loss, self.bad_grad_norm = FirstNonFinite(device), FirstNonFinite(device)
        self.skipped = torch.zeros((), dtype=torch.int64, device=device)
        self.window = torch.zeros(2, dtype=torch.float64, device=device)

    def count_skip(self, scale_before: torch.Tensor, scale_after: torch.Tensor) -> None:
        """Count a skipped step: the grad scaler's update halves the scale exactly when it skipped the step."""
        self.skipped += (scale_after < scale_before).to(torch.int64)

    def add(self, loss: torch.Tensor, acc: torch.Tensor) -> None:
        """Add a step's loss and accuracy to the window sums (float64, in step order)."""
        self.window += torch.stack([loss.detach(), acc.detach()]).double()

    def take_window(self) -> tuple[float, float]:
        """(loss sum, accuracy sum) of the window, which starts again from zero; waits for the device."""
        loss_sum, acc_sum = self.window.tolist()
        self.window.zero_()
        return loss_sum, acc_sum

    def divergence(self) -> tuple[str, int] | None:
        """(what went non-finite, step) of the first non-finite step, or None; waits for the device.

        Within one step the loss is checked before the gradient norm (it comes first).
        """
        found = []
        checks = ((self.bad_loss, "loss is {}"),
                  (self.bad_grad_norm, "the gradient norm is {} (weights updated with it)"))
        for order, (record, text) in enumerate(checks):
            seen = record.read()
            if seen is not None:
                found.append((seen[0], order, text.format(seen[1])))
        if not found:
            return None
        step, _, what = min(found)
        return what, step


def scale_tensor(scaler: torch.amp.GradScaler) -> torch.Tensor:
    """The grad scaler's current scale as the device tensor it keeps (get_scale() would wait for the device)."""
    return scaler._scale  # type: ignore[return-value]  # set by the first scale(); updated in place by update()


def fused_sgd_supported() -> bool:
    """Whether the installed torch's SGD takes `fused=True`."""
    return "fused" in inspect.signature(torch.optim.SGD).parameters


def use_fused_sgd(device: torch.device, autocast: torch.dtype | None) -> bool:
    """Fused SGD for fp16 on CUDA (the grad scaler's skip decision stays on the device), when torch has it."""
    return device.type == "cuda" and autocast is torch.float16 and fused_sgd_supported()


def one_ahead(items: Iterable[T], prepare: Callable[[T], T]) -> Iterator[T]:
    """The items, each prepared before the previous one is handed out (so its preparation overlaps that one's use)."""
    ahead: list[T] = []
    for item in items:
        ahead.append(prepare(item))
        if len(ahead) == 2:
            yield ahead.pop(0)
    yield from ahead


def device_batches(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches moved to a CUDA device one step ahead (pinned memory, non-blocking copy); on the CPU as they come."""
    if device.type != "cuda":
        return iter(batches)

    def copy(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = ((t if t.is_pinned() else t.pin_memory()).to(device, non_blocking=True) for t in batch)
        return images, labels  # queued on the stream behind the step running now

    return one_ahead(batches, copy)
