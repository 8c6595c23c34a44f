"""JPEG/PNG encode and decode of RGB uint8 HWC images with OpenCV, and square resizing."""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from x2softmax.limits import limit
from x2softmax.notices import warn

_ENCODE_FORMATS = {".jpg", ".jpeg", ".png"}
# OpenCV >= 4.10 decodes straight to RGB; older versions decode BGR and we convert.
_IMREAD_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """(width, height) from a JPEG's first frame header, scanning marker segments (time linear in the bytes)."""
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD9)):  # standalone markers
            pos += 2
            continue
        length = (data[pos + 2] << 8) | data[pos + 3]
        if marker in _JPEG_SOF and pos + 9 <= end:
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return width, height
        if length < 2:
            return None
        pos += 2 + length
    return None


def image_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """(width, height) a JPEG, PNG or BMP declares in its header, read before any decode; None if not found."""
    head = bytes(data[:26])
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
        return struct.unpack_from(">II", head, 16)
    if head.startswith(b"BM") and len(head) >= 26:
        width, height = struct.unpack_from("<ii", head, 18)
        return abs(width), abs(height)
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def check_image_size(data: bytes | memoryview, source: str) -> tuple[int, int]:
    """The declared (width, height) of an image, refused before decoding when it exceeds MAX_IMAGE_PIXELS."""
    size = image_size(data)
    if size is None:
        raise ValueError(f"{source}: cannot decode image ({len(data)} bytes, starts with {bytes(data[:8])!r}; "
                         "not a JPEG, PNG or BMP with a readable header)")
    width, height = size
    most = limit("X2S_MAX_IMAGE_PIXELS")
    if width * height > most:
        raise ValueError(f"{source}: image declares {width}x{height} pixels, more than {most} "
                         f"(a decompression bomb?); X2S_MAX_IMAGE_PIXELS raises the limit")
    return width, height


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
    check_image_size(data, source)
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
    need, most = n * height * width * 3, limit("X2S_MAX_DECODED_BYTES")
    if need > most:
        raise ValueError(f"{source}: {n} images of {width}x{height} need {need} bytes decoded, more than {most}; "
                         "X2S_MAX_DECODED_BYTES raises the limit")
    try:
        out = np.empty((n, height, width, 3), dtype=np.uint8)
    except MemoryError:
        raise ValueError(f"{source}: not enough memory for {n} decoded images of {width}x{height}") from None
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
