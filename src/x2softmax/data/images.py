"""JPEG/PNG encode and decode of RGB uint8 HWC images with OpenCV, and square resizing."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from x2softmax.notices import warn

_ENCODE_FORMATS = {".jpg", ".jpeg", ".png"}
# OpenCV >= 4.10 decodes straight to RGB; older versions decode BGR and we convert.
_IMREAD_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)


def _check_rgb(img: np.ndarray, what: str) -> None:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        shape = getattr(img, "shape", None)
        dtype = getattr(img, "dtype", None)
        raise ValueError(f"{what}: expected an RGB uint8 HxWx3 array, got shape {shape} dtype {dtype}")


def encode_image(img: np.ndarray, fmt: str = ".jpg", quality: int = 95) -> bytes:
    """Encode an RGB uint8 HWC image as JPEG or PNG bytes."""
    _check_rgb(img, "encode_image")
    fmt = fmt.lower()
    if fmt not in _ENCODE_FORMATS:
        raise ValueError(f"encode_image: unsupported format {fmt!r}; use one of {sorted(_ENCODE_FORMATS)}")
    if not 0 <= quality <= 100:
        raise ValueError(f"encode_image: JPEG quality must be in [0, 100], got {quality}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt in (".jpg", ".jpeg") else []
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(fmt, bgr, params)
    if not ok:
        raise ValueError(f"encode_image: OpenCV failed to encode a {img.shape} image as {fmt}")
    return buf.tobytes()


def decode_image(data: bytes | memoryview, source: str = "<bytes>") -> np.ndarray:
    """Decode JPEG/PNG bytes into an RGB uint8 HWC image; ValueError naming `source` if undecodable."""
    if not data:
        raise ValueError(f"{source}: empty image payload")
    buf = np.frombuffer(data, dtype=np.uint8)
    if _IMREAD_RGB is not None:
        img = cv2.imdecode(buf, _IMREAD_RGB)
    else:
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        img = None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img is None:
        raise ValueError(f"{source}: cannot decode image ({len(data)} bytes, starts with {bytes(data[:8])!r})")
    return img


def resize(img: np.ndarray, size: int) -> np.ndarray:
    """Resize an image to size x size (INTER_AREA when shrinking, bilinear when enlarging)."""
    if size <= 0:
        raise ValueError(f"resize: size must be positive, got {size}")
    h, w = img.shape[:2]
    if h == size and w == size:
        return img
    interp = cv2.INTER_AREA if size < h or size < w else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


def decode_images(
    payloads: Sequence[bytes | memoryview], size: int | None = None, source: str = "<bytes>",
    keys: Sequence[int] | None = None,
) -> np.ndarray:
    """Decode many encoded images (in threads) into one uint8 [N, S, S, 3] RGB array, resized to `size` if given.

    Errors name `source` and the record key (`keys[i]`) or item index; resized images are counted in one warning.
    """
    n = len(payloads)
    if n == 0:
        side = size or 0
        return np.empty((0, side, side, 3), dtype=np.uint8)

    def label(i: int) -> str:
        return f"{source} key {keys[i]}" if keys is not None else f"{source} item {i}"

    first = decode_image(payloads[0], source=label(0))
    height, width = (size, size) if size else first.shape[:2]
    out = np.empty((n, height, width, 3), dtype=np.uint8)
    resized: list[tuple[int, tuple[int, ...]]] = []

    def decode_range(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            img = first if i == 0 else decode_image(payloads[i], source=label(i))
            if img.shape[:2] != (height, width):
                if not size:
                    raise ValueError(
                        f"{label(i)}: image is {img.shape[1]}x{img.shape[0]}, {label(0)} is {width}x{height}"
                    )
                resized.append((i, img.shape[:2]))  # list.append is atomic under the GIL
                img = resize(img, size)
            out[i] = img

    workers = max(1, min(4, os.cpu_count() or 1))
    bounds = np.linspace(0, n, min(n, workers * 4) + 1, dtype=np.int64)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(decode_range, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]:
            future.result()
    if resized:
        i, (h, w) = min(resized)
        warn(f"{source}: {len(resized)} of {n} images are not {size}x{size} and were resized "
             f"(first: {label(i)} is {w}x{h})")
    return out
