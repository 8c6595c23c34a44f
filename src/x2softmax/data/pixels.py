"""Pixel operations whose bytes do not depend on the CPU: integer arithmetic where OpenCV's result would.

OpenCV's `addWeighted` rounds differently under its SIMD paths, and `warpAffine` on float images under the
CPU-specific code of Intel IPP (docs/architecture.md, synthetic data). These replacements compute with integers
(or with exactly representable float64 values and correctly rounded sums), so every x86-64 machine writes the same
bytes. OpenCV's 8-bit Gaussian blur, resize, LUT, drawing and JPEG codec are bit-exact by design and stay in use.
"""

from __future__ import annotations

import math

import numpy as np

_BLEND_BITS = 8
_KERNEL_ONE = 4096  # integer weights of a motion kernel sum to about this


def blend(top: np.ndarray, bottom: np.ndarray, alpha: float) -> np.ndarray:
    """uint8 alpha * top + (1 - alpha) * bottom with alpha quantised to 1/256, rounded half up."""
    if top.shape != bottom.shape or top.dtype != np.uint8 or bottom.dtype != np.uint8:
        raise ValueError(f"blend: expected two uint8 arrays of one shape, got {top.shape} and {bottom.shape}")
    weight = int(round(min(max(alpha, 0.0), 1.0) * (1 << _BLEND_BITS)))
    mixed = top.astype(np.uint16) * weight + bottom.astype(np.uint16) * ((1 << _BLEND_BITS) - weight)
    return ((mixed + (1 << (_BLEND_BITS - 1))) >> _BLEND_BITS).astype(np.uint8)


def motion_kernel(length: int, angle_deg: float) -> np.ndarray:
    """int64 [length, length] weights of a line `length` px long through the centre at `angle_deg` (bilinear)."""
    if length < 1:
        raise ValueError(f"motion_kernel: length must be >= 1, got {length}")
    centre = (length - 1) / 2.0
    cos, sin = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    y, x = np.mgrid[0:length, 0:length].astype(np.float64) - centre
    # each kernel cell samples the horizontal line (row `centre`, columns 0..length-1) rotated by the angle
    along = x * cos - y * sin + centre
    across = x * sin + y * cos
    weight = np.maximum(0.0, 1.0 - np.abs(across)) * np.clip(np.minimum(along + 1.0, length - along), 0.0, 1.0)
    total = math.fsum(weight.ravel().tolist())
    if total <= 0.0:
        weight[length // 2, length // 2], total = 1.0, 1.0
    return np.rint(weight * (_KERNEL_ONE / total)).astype(np.int64)


def correlate(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """uint8 HxWxC image correlated with an integer kernel anchored at (rows // 2, cols // 2), as filter2D,
    normalised by the kernel's sum and rounded; reflect-101 border."""
    kh, kw = kernel.shape
    total = int(kernel.sum())
    if total <= 0:
        raise ValueError(f"correlate: need a kernel with a positive sum, got {kernel.shape} sum {total}")
    h, w = img.shape[:2]
    pad = ((kh // 2, kh - 1 - kh // 2), (kw // 2, kw - 1 - kw // 2), (0, 0))
    padded = np.pad(img, pad, mode="reflect").astype(np.int64)
    acc = np.zeros(img.shape, np.int64)
    for dy, dx in zip(*np.nonzero(kernel)):
        acc += int(kernel[dy, dx]) * padded[dy:dy + h, dx:dx + w]
    return np.clip((acc + total // 2) // total, 0, 255).astype(np.uint8)
