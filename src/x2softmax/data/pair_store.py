"""Decoded pair stores: a verification .bin set's distinct images decoded and resized once, for every evaluation.

A store is one uncompressed .npz beside nothing else: `images` (uint8 [U, S, S, 3] RGB, the .bin's distinct images
in order of first appearance, resized to S x S exactly as the embedding step would resize them), `index` (int64
[2P], each pair slot's image), `issame` (bool [P]) and `source_sha256` (the .bin it was decoded from). Evaluating from
the store gives the same embeddings as evaluating from the .bin (tests/data/test_pair_store.py); it saves each of
the embedded default's 27 evaluation jobs the unpickling, decoding and resizing of six sets (about 4 CPU-s).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from x2softmax.data.pairs import load_bin_unique
from x2softmax.io import atomic_path, file_sha256
from x2softmax.limits import limit

KEYS = ("images", "index", "issame", "source_sha256")


def write_pair_store(bin_path: Path, out_path: Path, size: int) -> Path:
    """Decode a .bin set's distinct images at size x size into a pair store at out_path (atomically)."""
    bin_path = Path(bin_path)
    images, index, issame = load_bin_unique(bin_path, size=size)
    with atomic_path(Path(out_path)) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, images=images, index=index, issame=issame, source_sha256=np.array(file_sha256(bin_path)))
    return Path(out_path)


def load_pair_store(path: Path, bin_path: Path, size: int, *, bin_sha256: str | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images [U, S, S, 3], index [2P], issame [P]) of a pair store decoded from bin_path at this size; a store of
    another source, size or shape is refused with one line naming it. `bin_sha256`: bin_path's digest, if known."""
    path = Path(path)
    most = limit("X2S_MAX_DECODED_BYTES")
    if path.stat().st_size > most:
        raise ValueError(f"{path}: pair store of {path.stat().st_size} bytes, more than X2S_MAX_DECODED_BYTES={most}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if set(data.files) != set(KEYS):
                raise ValueError(f"holds {sorted(data.files)}, expected {list(KEYS)}")
            images, index, issame = data["images"], data["index"], data["issame"]
            source = str(data["source_sha256"])
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"{path}: not a pair store ({err})") from None
    if source != (bin_sha256 or file_sha256(bin_path)):
        raise ValueError(f"{path}: decoded from another version of {bin_path} (rebuild it)")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (size, size, 3):
        raise ValueError(f"{path}: images are {images.dtype} {images.shape}, expected uint8 [N, {size}, {size}, 3]")
    if (index.dtype.kind not in "iu" or index.ndim != 1 or len(index) != 2 * len(issame) or issame.dtype != bool
            or (len(index) and (index.min() < 0 or index.max() >= len(images)))):
        raise ValueError(f"{path}: index/issame do not describe pairs of its {len(images)} images")
    return images, index.astype(np.int64), issame
