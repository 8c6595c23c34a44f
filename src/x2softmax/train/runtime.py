"""The process a run trains in: its process group, device, seeds, determinism, autocast dtype and peak memory."""

from __future__ import annotations

import os
import random
import resource
import sys

import numpy as np
import torch
import torch.distributed as dist

AMP_MODES = ("auto", "fp16", "bf16", "none")


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype of the trunk for an amp setting: auto = fp16 on CUDA and none on the CPU.

    fp16 also runs on the CPU (slowly: it is how the tests and the rehearsal exercise the GPU's autocast and
    grad-scaler path without a GPU).
    """
    if amp not in AMP_MODES:
        raise ValueError(f"train.amp={amp!r}: use one of {AMP_MODES}")
    if amp == "auto":
        return torch.float16 if device.type == "cuda" else None
    return {"fp16": torch.float16, "bf16": torch.bfloat16, "none": None}[amp]


def init_process_group() -> bool:
    """Join the torchrun process group (nccl on GPU, gloo on CPU) when WORLD_SIZE > 1; True if created here."""
    if int(os.getenv("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return True


def training_device() -> torch.device:
    """cuda:LOCAL_RANK when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        index = int(os.getenv("LOCAL_RANK", "0"))
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_deterministic(deterministic: bool, device: torch.device) -> None:
    """Deterministic algorithms and cuDNN (strict on the CPU, warn-only on CUDA) or cuDNN autotuning.

    Uninitialised memory is not filled with NaN (PyTorch's debugging default under deterministic algorithms): every
    kernel the trainer runs writes its outputs in full, and the fill cost ~17 % of a CPU step (bench/train_run.py).
    The flag is set as `torch.use_deterministic_algorithms` sets it, without importing torch._inductor for its
    compiler setting (about 2 s per training process; the trainer never compiles): that setting is mirrored only
    where the compiler is already loaded.
    """
    if deterministic and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    warn_only = deterministic and device.type == "cuda"
    if "torch._inductor.config" in sys.modules:
        sys.modules["torch._inductor.config"].deterministic = deterministic
    # Private on purpose: the public torch.use_deterministic_algorithms makes this same call after importing
    # torch._inductor to set the flag mirrored above (0.9-2 s per process on torch 2.13; this call takes microseconds).
    torch._C._set_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this process: CUDA max allocated, or the CPU max resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
