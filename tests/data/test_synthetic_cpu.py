"""Synthesis is independent of the CPU's instruction set: the same bytes with and without OpenCV's SIMD paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from x2softmax.data.pixels import blend, correlate, motion_kernel

# What a CPU without AVX looks like to OpenCV (docs/architecture.md, synthetic data; tooling.md); with it, Intel
# IPP's SSE4.2 code instead of the CPU's best (IPP dispatches on its own) and libjpeg-turbo's plain C code.
NO_SIMD = {"OPENCV_CPU_DISABLE": "AVX512_SKX,AVX512_COMMON,AVX512F,AVX2,FMA3,AVX", "OPENCV_IPP": "sse42",
           "JSIMD_FORCENONE": "1"}

# Small but representative: training RecordIO, every .bin, IJB video frames (motion blur) and stills; alpha-blended
# features (blush, beards, glasses, hair) and every nuisance (low resolution, JPEG round trips, occluders).
SETTINGS = {
    "seed": 11,
    "train": {"identities": 10, "families": 3, "images_min": 2, "images_max": 6},
    "eval": {"identities": 12, "families": 3},
    "val": {"pairs": 20, "identities": 4, "images": 4},
    "nuisance": {"lowres_prob": 0.3, "jpeg_prob": 0.4, "occlusion_prob": 0.3},
    "ijbb": {"subjects": 3, "templates": [2, 2], "media": [1, 2], "frames": [3, 4], "video_prob": 0.8},
    "ijbc": {"subjects": 3, "templates": [2, 2], "media": [1, 2], "frames": [3, 4], "video_prob": 0.8},
}


def _synthesize(out: Path, extra_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NO_SIMD}
    subprocess.run([sys.executable, "-m", "x2softmax", "data", "synth", "--settings", json.dumps(SETTINGS),
                    "--out", str(out)], check=True, env={**env, **extra_env}, capture_output=True, timeout=300)
    return json.loads((out / "MANIFEST.json").read_text())["files"]


def test_synthesis_is_the_same_with_and_without_simd_paths(tmp_path: Path) -> None:
    plain = _synthesize(tmp_path / "plain", {})
    no_simd = _synthesize(tmp_path / "no_simd", NO_SIMD)
    assert {"train/train.rec", "val/lfw.bin", "IJBB/loose_crop/1.jpg"} <= set(plain)
    differ = sorted(name for name in plain if plain[name] != no_simd.get(name))
    assert plain.keys() == no_simd.keys() and not differ, f"{len(differ)} of {len(plain)} files differ: {differ[:10]}"


def test_blend_rounds_like_addweighted_within_one_grey_level() -> None:
    rng = np.random.default_rng(0)
    top, bottom = (rng.integers(0, 256, (40, 50, 3), dtype=np.uint8) for _ in range(2))
    for alpha in (0.0, 0.1, 0.35, 0.5, 0.9, 1.0):
        ours = blend(top, bottom, alpha).astype(int)
        reference = cv2.addWeighted(top, alpha, bottom, 1.0 - alpha, 0.0).astype(int)
        assert np.abs(ours - reference).max() <= 1
    assert np.array_equal(blend(top, bottom, 1.0), top) and np.array_equal(blend(top, bottom, 0.0), bottom)


@pytest.mark.parametrize(("length", "angle"), [(1, 0.0), (4, 90.0), (7, 33.3), (11, 150.0)])
def test_motion_blur_matches_opencv_filter2d_within_one_grey_level(length: int, angle: float) -> None:
    kernel = motion_kernel(length, angle)
    assert kernel.shape == (length, length) and abs(int(kernel.sum()) - 4096) <= length * length
    img = np.random.default_rng(1).integers(0, 256, (30, 37, 3), dtype=np.uint8)
    ours = correlate(img, kernel).astype(int)
    reference = cv2.filter2D(img, -1, kernel.astype(np.float64) / kernel.sum()).astype(int)
    assert np.abs(ours - reference).max() <= 1
