"""Resumable training checkpoints: plain tensors, numbers and strings only, loaded with torch's weights_only."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from x2softmax.runspec import RunSpec
from x2softmax.torchfile import load_plain, non_finite

# Spec keys that change neither the result nor the trajectory of a run: a change keeps the checkpoint valid.
_RESUME_NEUTRAL_TRAIN_KEYS = ("checkpoint_every", "log_every", "val")


def checkpoint_path(ckpt_dir: Path, rank: int, world_size: int) -> Path:
    """ckpt_dir/last.pt on one process, ckpt_dir/last.rank{r}.pt per rank otherwise."""
    return Path(ckpt_dir) / ("last.pt" if world_size == 1 else f"last.rank{rank}.pt")


def resume_key(spec: RunSpec, world_size: int) -> str:
    """Canonical JSON of what must match for a checkpoint to be resumed: the spec (less neutral keys), world size."""
    plain = spec.to_dict()
    train = {k: v for k, v in plain["train"].items() if k not in _RESUME_NEUTRAL_TRAIN_KEYS}
    return json.dumps({**plain, "train": train, "world_size": world_size}, sort_keys=True, default=str)


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch and CUDA generator states as plain tensors and numbers (weights_only-loadable)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generator states saved by rng_state()."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    np_state = state["numpy"]
    np.random.set_state((np_state["kind"], np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: Path, key: str) -> dict[str, Any] | None:
    """The checkpoint at `path` if it exists, loads safely, was written for `key` (resume_key) and holds finite
    weights; None (with a one-line notice on stderr) otherwise, so that training starts fresh."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = load_plain(path)
    except ValueError as err:  # a truncated, foreign or malicious file: start fresh rather than fail the run
        print(f"x2softmax: checkpoint {err}; starting fresh", file=sys.stderr)
        return None
    if not isinstance(state, dict) or "resume_key" not in state or state["resume_key"] != key:
        print(f"x2softmax: checkpoint {path} was written for a different spec; starting fresh", file=sys.stderr)
        return None
    for part in ("backbone", "head"):
        bad = non_finite(state.get(part, {}).items())
        if bad is not None:
            print(f"x2softmax: checkpoint {path} holds non-finite weights ({part}.{bad}); starting fresh",
                  file=sys.stderr)
            return None
    return state


def _tensor_problem(where: str, value: Any, like: torch.Tensor) -> str | None:
    if not isinstance(value, torch.Tensor):
        return f"{where} is a {type(value).__name__}, not a tensor"
    if value.shape != like.shape or value.dtype != like.dtype:
        return f"{where} is {value.dtype} {tuple(value.shape)}, the model's is {like.dtype} {tuple(like.shape)}"
    return None


def checkpoint_problem(state: dict[str, Any], modules: dict[str, torch.nn.Module],
                       optimizer: torch.optim.Optimizer) -> str | None:
    """What makes a loaded checkpoint unfit for these modules and optimizer (names, shapes and dtypes of every
    tensor, the optimizer's per-parameter state, the types of the counters), checked before anything is applied;
    None when it fits."""
    for part, module in modules.items():
        saved = state.get(part)
        if not isinstance(saved, dict):
            return f"'{part}' is a {type(saved).__name__}, not a state dict"
        expected = module.state_dict()
        if set(saved) != set(expected):
            return f"'{part}' names {sorted(set(saved) ^ set(expected))[:3]} that the model does not (or lacks them)"
        for name, like in expected.items():
            problem = _tensor_problem(f"{part}.{name}", saved[name], like)
            if problem:
                return problem
    opt = state["optimizer"] if "optimizer" in state else None
    layout = {"state": dict, "param_groups": list}
    if not isinstance(opt, dict) or not all(isinstance(opt.get(name), kind) for name, kind in layout.items()):
        return f"'optimizer' is a {type(opt).__name__}, not an optimizer state dict"
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, buffers in opt["state"].items():
        if not isinstance(index, int) or not 0 <= index < len(params) or not isinstance(buffers, dict):
            return f"optimizer state entry {index!r} names no parameter"
        for name, value in buffers.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                problem = _tensor_problem(f"optimizer.state.{index}.{name}", value, params[index].detach())
                if problem:
                    return problem
    for key in ("scheduler", "scaler", "rng", "val_best", "val_final"):
        if not isinstance(state.get(key), dict):
            return f"'{key}' is a {type(state.get(key)).__name__}, not a mapping"
    for key in ("global_step", "train_time_s", "val_time_s"):
        value = state.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            return f"'{key}' is {value!r}, not a non-negative number"
    metrics = state["metrics"] if "metrics" in state else None
    if not isinstance(metrics, list):
        return f"'metrics' is a {type(metrics).__name__}, not a list"
    return None


def checkpoint_note(path: Path, step: int | None) -> str:
    """Which checkpoint a stopped run keeps: 'last good checkpoint kept: PATH (step N)' or that none was written."""
    if step is None:
        return f"no checkpoint of this run was written to {path}; a rerun starts from step 0"
    return f"last good checkpoint kept: {path} (step {step}); a rerun resumes there"
