"""Torch files of plain data (tensors, numbers, strings, lists, dicts): atomic saves, weights_only loads."""

from __future__ import annotations

import io
import pickle
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from x2softmax.io import atomic_write_bytes


def _refusal(err: Exception) -> str:
    """The informative line of torch's weights_only error (e.g. the global it blocked)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    useful = [line for line in lines if "GLOBAL" in line or "Unsupported" in line]
    return (useful or lines or [type(err).__name__])[0]


def load_plain(path: Path) -> Any:
    """torch.load with weights_only=True; ValueError naming the file for corrupt files and for pickles asking for
    anything but tensors, numbers, strings and containers (which are never executed)."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{path}: refused to load: it holds more than tensors, numbers and strings ({_refusal(err)}); "
            "nothing in it was run"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as err:
        raise ValueError(f"{path}: not a readable torch file ({_refusal(err)})") from None


def save_plain(path: Path, state: Any) -> None:
    """torch.save `state` (plain tensors, numbers, strings, lists, dicts) atomically: in memory, then temp + rename."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def non_finite(tensors: Iterable[tuple[str, torch.Tensor]]) -> str | None:
    """Name of the first floating-point tensor holding NaN or Inf, or None when all are finite. The check reads each
    tensor's storage, not its view: an expanded tensor (stride 0) costs what its bytes on disk cost."""
    for name, tensor in tensors:
        if tensor.is_floating_point():
            size = tensor.untyped_storage().nbytes() // tensor.element_size()
            values = torch.empty(0, dtype=tensor.dtype, device=tensor.device).set_(
                tensor.untyped_storage(), 0, (size,))
            if not bool(torch.isfinite(values).all()):
                return name
    return None
