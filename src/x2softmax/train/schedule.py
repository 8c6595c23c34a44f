"""Per-iteration learning-rate schedules: the authors' multistep and arcface_torch's polynomial with warm-up."""

from __future__ import annotations

import bisect
from collections.abc import Callable

import torch

from x2softmax.runspec import ScheduleSettings

SCHEDULES = ("multistep", "poly")


def lr_factor(schedule: ScheduleSettings, steps_per_epoch: int, total_steps: int) -> Callable[[int], float]:
    """Multiplier of the base lr at iteration `step` (0-based) for a schedule spec with epochs as units."""
    name = schedule.name
    if name not in SCHEDULES:
        raise ValueError(f"unknown lr schedule {name!r}; known schedules: {', '.join(SCHEDULES)}")
    if steps_per_epoch < 1 or total_steps < 1:
        raise ValueError(f"lr schedule needs >= 1 step, got steps_per_epoch={steps_per_epoch}, total={total_steps}")
    warmup = int(round(float(schedule.warmup_epochs) * steps_per_epoch))
    if not 0 <= warmup < total_steps:
        raise ValueError(f"warmup of {warmup} steps does not fit a run of {total_steps} steps")

    def warmup_factor(step: int) -> float:
        return step / warmup if step < warmup else 1.0

    if name == "multistep":
        milestones = sorted(int(round(float(m) * steps_per_epoch)) for m in schedule.milestones)
        if milestones and milestones[-1] > total_steps:
            raise ValueError(f"lr milestone at step {milestones[-1]} is beyond the last step ({total_steps}); "
                             "it would never apply")
        gamma = float(schedule.gamma)
        return lambda step: warmup_factor(step) * gamma ** bisect.bisect_right(milestones, step)

    power = float(schedule.power)
    decay_steps = total_steps - warmup

    def poly(step: int) -> float:
        if step < warmup:
            return warmup_factor(step)
        return max(0.0, 1.0 - (step - warmup) / decay_steps) ** power

    return poly


def build_scheduler(
    optimizer: torch.optim.Optimizer, schedule: ScheduleSettings, steps_per_epoch: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR stepped once per iteration following `schedule`."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(schedule, steps_per_epoch, total_steps))
