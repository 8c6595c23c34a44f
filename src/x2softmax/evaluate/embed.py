"""Embedding extraction: batched forward passes of uint8 RGB images (and their mirror images), with a disk cache.

Pixels are fed as (x / 255 - 0.5) / 0.5 in NCHW RGB order, as insightface does. Embeddings are returned
unnormalised (float32): the verification protocols normalise them themselves and IJB's N1 mode uses the norm.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from x2softmax.data.images import resize
from x2softmax.io import atomic_path, atomic_write_json


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device for a name; "auto" picks CUDA when available, else the CPU."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _check_images(images: np.ndarray) -> None:
    """Refuse anything but a uint8 [N, H, W, 3] RGB array."""
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 [N, H, W, 3] RGB, got {images.dtype} {tuple(images.shape)}")


def _to_input(batch: np.ndarray, input_size: int | None, device: torch.device) -> torch.Tensor:
    """A uint8 NHWC batch resized to input_size (when it differs) as a normalised float NCHW tensor on device."""
    if input_size is not None and batch.shape[1:3] != (input_size, input_size):
        batch = np.stack([resize(img, input_size) for img in batch])
    x = torch.from_numpy(np.array(batch)).to(device).permute(0, 3, 1, 2).float()  # copy: stores are read-only
    return x.div_(255).sub_(0.5).div_(0.5)


@torch.no_grad()
def embed_views(model: torch.nn.Module, images: np.ndarray, flip: bool = True, batch_size: int = 256,
                device: str | torch.device = "cpu", input_size: int | None = None,
                progress: bool = False) -> np.ndarray:
    """float32 [V, N, D]: f(x) (V = 1), or f(x) and f(flip(x)) (V = 2, one forward of both per batch)."""
    _check_images(images)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if len(images) == 0:
        raise ValueError("no images to embed")
    dev = resolve_device(device)
    was_training = model.training
    model.to(dev).eval()
    views: np.ndarray | None = None
    try:
        with tqdm(total=len(images), unit="img", file=sys.stderr, disable=not progress, desc="embed") as bar:
            for start in range(0, len(images), batch_size):
                x = _to_input(images[start:start + batch_size], input_size, dev)
                n = len(x)
                if flip:
                    x = torch.cat([x, torch.flip(x, dims=[3])])
                feats = model(x).float().cpu().numpy()
                if views is None:
                    views = np.empty((2 if flip else 1, len(images), feats.shape[1]), dtype=np.float32)
                views[:, start:start + n] = feats.reshape(len(views), n, -1)
                bar.update(n)
    finally:
        model.train(was_training)
    return views


def embed_images_modes(model: torch.nn.Module, images: np.ndarray, batch_size: int = 256,
                       device: str | torch.device = "cpu", input_size: int | None = None,
                       progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(f(x), f(flip(x))) for each uint8 RGB image, unnormalised float32 [N, D] each."""
    views = embed_views(model, images, True, batch_size, device, input_size, progress)
    return views[0], views[1]


def embed_images(model: torch.nn.Module, images: np.ndarray, batch_size: int = 256, flip: bool = True,
                 device: str | torch.device = "cpu", input_size: int | None = None,
                 progress: bool = False) -> np.ndarray:
    """Unnormalised float32 [N, D] embeddings: f(x) + f(flip(x)) when flip, else f(x)."""
    views = embed_views(model, images, flip, batch_size, device, input_size, progress)
    return views.sum(axis=0) if flip else views[0]


def store_fingerprint(store_dir: Path) -> str:
    """Cache identity of an aligned store: hash of index.tsv plus the size and mtime of images.npy."""
    store_dir = Path(store_dir)
    index, images = store_dir / "index.tsv", store_dir / "images.npy"
    for path in (index, images):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing file of the aligned store")
    stat = images.stat()
    digest = hashlib.sha256(index.read_bytes())
    digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def cache_key_digest(key: dict[str, Any]) -> str:
    """Stable hex digest of a JSON-serialisable cache key."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]


def cached_embeddings(key: dict[str, Any], cache_dir: Path, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """Load the array cached under `key` in cache_dir, or compute it, store it ({digest}.npy + .json) and return it."""
    cache_dir = Path(cache_dir)
    digest = cache_key_digest(key)
    path = cache_dir / f"{digest}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            warnings.warn(f"{path}: unreadable embedding cache entry ({err}); recomputing", stacklevel=2)
    array = np.asarray(compute())
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
    atomic_write_json(cache_dir / f"{digest}.json", key)
    return array
