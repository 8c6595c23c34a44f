"""Resumable training checkpoints: model, head, optimizer, schedule, scaler, RNG states and data position."""

from __future__ import annotations

import io
import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from x2softmax.io import atomic_write_bytes

# Spec keys that change neither the result nor the trajectory of a run: a change keeps the checkpoint valid.
_RESUME_NEUTRAL_TRAIN_KEYS = ("checkpoint_every", "log_every", "val")


def checkpoint_path(ckpt_dir: Path, rank: int, world_size: int) -> Path:
    """ckpt_dir/last.pt on one process, ckpt_dir/last.rank{r}.pt per rank otherwise."""
    return Path(ckpt_dir) / ("last.pt" if world_size == 1 else f"last.rank{rank}.pt")


def resume_key(spec: dict[str, Any], world_size: int) -> str:
    """Canonical JSON of what must match for a checkpoint to be resumed: the spec (less neutral keys), world size."""
    train = {k: v for k, v in spec.get("train", {}).items() if k not in _RESUME_NEUTRAL_TRAIN_KEYS}
    return json.dumps({**spec, "train": train, "world_size": world_size}, sort_keys=True, default=str)


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch and CUDA generator states."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generator states saved by rng_state()."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write a checkpoint dict atomically (serialised in memory, then temp file + rename)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, key: str) -> dict[str, Any] | None:
    """The checkpoint at `path` if it exists and was written for `key` (resume_key); None (with a notice) if not."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # a truncated or foreign file: start fresh rather than fail the run
        print(f"x2softmax: checkpoint {path} is unreadable ({err}); starting fresh", file=sys.stderr)
        return None
    if not isinstance(state, dict) or state.get("resume_key") != key:
        print(f"x2softmax: checkpoint {path} was written for a different spec; starting fresh", file=sys.stderr)
        return None
    return state
