"""GPU leases: take free device ids with one file lock per device, or fall back to the CPU."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import filelock
import torch

LOCK_DIR_ENV = "X2S_GPU_LOCK_DIR"


def default_lock_dir() -> Path:
    """Lock folder: $X2S_GPU_LOCK_DIR or ~/.cache/x2softmax/gpu-locks."""
    env = os.environ.get(LOCK_DIR_ENV)
    return Path(env) if env else Path.home() / ".cache" / "x2softmax" / "gpu-locks"


def visible_devices() -> list[int]:
    """Device ids this process may use: CUDA_VISIBLE_DEVICES if set, else every GPU ([] without one).

    Counting goes through NVML (torch.cuda.device_count) so the CUDA driver is not initialised here and a
    CUDA_VISIBLE_DEVICES set after the lease still takes effect in this process.
    """
    count = torch.cuda.device_count()
    if count == 0:
        return []
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        return list(range(count))
    try:
        return [int(part) for part in env.split(",") if part.strip()][:count]
    except ValueError as err:
        raise ValueError(f"CUDA_VISIBLE_DEVICES={env!r}: expected comma-separated integer device ids") from err


@contextlib.contextmanager
def lease_gpus(
    n: int,
    lock_dir: Path | None = None,
    visible: list[int] | None = None,
    timeout_s: float = 24 * 3600.0,
    poll_s: float = 5.0,
) -> Iterator[list[int]]:
    """Hold `n` free GPU ids (file locks in `lock_dir`) for the block; yield [] and run on the CPU when none exist."""
    if n < 0:
        raise ValueError(f"lease_gpus: n must be >= 0, got {n}")
    devices = visible_devices() if visible is None else list(visible)
    if n == 0 or not devices:
        print("x2softmax: no GPU requested or available, training runs on the CPU", file=sys.stderr)
        yield []
        return
    if n > len(devices):
        raise ValueError(f"lease_gpus: {n} GPUs requested but only {len(devices)} visible: {devices}")
    lock_dir = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    while (held := _try_lock(devices, n, lock_dir)) is None:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"lease_gpus: {n} free GPUs among {devices} not found within {timeout_s:.0f} s")
        time.sleep(poll_s)
    try:
        yield sorted(held)
    finally:
        for lock in held.values():
            lock.release()


def _try_lock(devices: list[int], n: int, lock_dir: Path) -> dict[int, filelock.BaseFileLock] | None:
    """Lock `n` of `devices` at once, or none (all-or-nothing, so two waiting jobs cannot deadlock)."""
    held: dict[int, filelock.BaseFileLock] = {}
    for device in devices:
        lock = filelock.FileLock(str(lock_dir / f"gpu{device}.lock"))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            continue
        held[device] = lock
        if len(held) == n:
            return held
    for lock in held.values():
        lock.release()
    return None
