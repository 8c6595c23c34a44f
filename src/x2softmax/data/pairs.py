"""Verification pair sets (.bin: pickled (image bytes list, issame list)) read with a restricted unpickler."""

from __future__ import annotations

import codecs
import io
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from x2softmax.data.images import decode_images
from x2softmax.io import atomic_write_bytes
from x2softmax.limits import limit


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """`_codecs.encode` limited to latin-1: how Python 3 pickles `bytes` at protocol < 3."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} refused (only latin1)")
    return text.encode("latin-1", errors)


def _plain_dtype(*args: Any) -> np.dtype:
    """`numpy.dtype` limited to plain (bool, integer, float) dtypes."""
    dtype = np.dtype(*args)
    if dtype.kind not in "biuf":
        raise pickle.UnpicklingError(f"numpy dtype {dtype} refused (only bool, integer and float arrays)")
    return dtype


def _allowed_globals() -> dict[tuple[str, str], Callable[..., Any] | type]:
    from numpy._core import multiarray, numeric

    allowed: dict[tuple[str, str], Callable[..., Any] | type] = {
        ("_codecs", "encode"): _latin1_encode,
        ("numpy", "dtype"): _plain_dtype,
        ("numpy", "ndarray"): np.ndarray,
    }
    # numpy 1 pickles name numpy.core.*, numpy 2 pickles numpy._core.*
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


class RefusedGlobalError(ValueError):
    """A pickle asked for a global outside the allow-list."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals needed for lists of bytes/bools and plain numpy arrays."""

    def __init__(self, stream: io.BufferedIOBase, source: str) -> None:
        super().__init__(stream, encoding="latin1")
        self.source = source
        self.allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise RefusedGlobalError(
                f"{self.source}: refused to load global {module}.{name} (a .bin set may hold only lists of bytes "
                "and bools or plain numpy arrays)"
            ) from None


def restricted_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle data with only builtin containers, bytes, numbers and plain numpy arrays allowed."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), source).load()
    except RefusedGlobalError:
        raise
    except Exception as err:  # any unpickling failure of a corrupt or truncated file
        raise ValueError(f"{source}: not a valid pickle ({type(err).__name__}: {err})") from None


def write_bin(path: Path, bins: Sequence[bytes], issame: Sequence[bool], protocol: int = 2) -> None:
    """Write a verification set as the pickle (list of image bytes, list of bools), atomically."""
    if len(bins) != 2 * len(issame):
        raise ValueError(f"write_bin {path}: {len(bins)} images for {len(issame)} pairs (need 2 per pair)")
    payload = pickle.dumps(([bytes(b) for b in bins], [bool(s) for s in issame]), protocol=protocol)
    atomic_write_bytes(path, payload)


def _as_bytes(item: Any, path: Path, i: int) -> bytes:
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    if isinstance(item, str):  # Python-2 `str` loaded with encoding="latin1"
        return item.encode("latin-1")
    if isinstance(item, np.ndarray) and item.dtype == np.uint8 and (item.ndim == 1 or item.shape[1:] == (1,)):
        return item.tobytes()  # [N] or cv2.imencode's [N, 1] (insightface build_eval_pack.py)
    kind = f"{item.dtype} array of shape {item.shape}" if isinstance(item, np.ndarray) else type(item).__name__
    raise ValueError(f"{path}: image {i} is a {kind}, expected encoded image bytes (or a uint8 [N] / [N, 1] array)")


def _check_expansion(items: Sequence[Any], path: Path, file_size: int) -> None:
    """Bound what a pickle's shared references can expand to: one image object may fill at most
    X2S_MAX_IMAGE_REFERENCES pair slots (a set reuses an image in a few pairs; a crafted file lists one object
    millions of times for two bytes each), and the distinct images' bytes must fit in the file."""
    most = limit("X2S_MAX_IMAGE_REFERENCES")
    seen: dict[int, int] = {}
    total = 0
    for i, item in enumerate(items):
        count = seen.get(id(item), 0) + 1
        seen[id(item)] = count
        if count > most:
            raise ValueError(f"{path}: image {i} repeats one object {count} times, more than "
                             f"X2S_MAX_IMAGE_REFERENCES={most} (shared pickle references; docs/limits.md)")
        if count == 1:
            total += (item.nbytes if isinstance(item, np.ndarray) else len(item) if isinstance(item, (bytes, str))
                      else 0)
            if total > file_size:
                raise ValueError(f"{path}: its first {i + 1} images hold {total} bytes, more than the file's "
                                 f"{file_size} (shared pickle references to the same image?)")


def read_bin(path: Path) -> tuple[list[bytes], np.ndarray]:
    """Read a verification .bin (Python 2 or 3 pickle): encoded images [2P] and issame bool [P]."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: verification set not found") from None
    obj = restricted_loads(data, source=str(path))
    if not isinstance(obj, (tuple, list)) or len(obj) != 2:
        raise ValueError(f"{path}: expected a pickled pair (bins, issame_list), got {type(obj).__name__}")
    raw_bins, raw_issame = obj
    if not isinstance(raw_bins, (list, tuple)):
        raise ValueError(f"{path}: bins is a {type(raw_bins).__name__}, expected a list of image bytes")
    if not isinstance(raw_issame, (list, tuple, np.ndarray)) or (
            not isinstance(raw_issame, np.ndarray)
            and not all(isinstance(flag, (bool, int, np.bool_, np.integer)) for flag in raw_issame)):
        raise ValueError(f"{path}: issame_list must be a flat list of booleans")
    issame = np.asarray(raw_issame)
    if issame.ndim != 1 or issame.dtype.kind not in "bi" or not np.isin(issame, (0, 1)).all():
        raise ValueError(f"{path}: issame_list must be a flat list of booleans")
    if len(raw_bins) != 2 * len(issame):
        raise ValueError(f"{path}: {len(raw_bins)} images for {len(issame)} pairs (need exactly 2 per pair)")
    _check_expansion(raw_bins, path, len(data))
    bins = [_as_bytes(item, path, i) for i, item in enumerate(raw_bins)]
    return bins, issame.astype(bool)


def load_bin_unique(path: Path, size: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A .bin set's distinct images (uint8 [U, H, W, 3] RGB, each payload decoded once, in order of first
    appearance), the index [2P] of each pair slot's image among them, and issame [P]."""
    bins, issame = read_bin(path)
    first: dict[bytes, int] = {}
    index = np.array([first.setdefault(payload, len(first)) for payload in bins], dtype=np.int64)
    return decode_images(list(first), size=size, source=str(path)), index, issame


def load_bin_images(path: Path, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decoded images of a .bin set (uint8 [2P, H, W, 3] RGB, resized to `size` if given) and issame [P]."""
    images, index, issame = load_bin_unique(path, size)
    return images[index], issame
