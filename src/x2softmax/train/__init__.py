"""Training: sharded classifier head (partial FC), trainer, checkpoints, schedules, GPU leases, launch."""

from __future__ import annotations

from x2softmax.train.devices import lease_gpus
from x2softmax.train.head import ShardedHead
from x2softmax.train.schedule import build_scheduler, lr_factor
from x2softmax.train.trainer import train

__all__ = ["ShardedHead", "build_scheduler", "lease_gpus", "lr_factor", "train"]
