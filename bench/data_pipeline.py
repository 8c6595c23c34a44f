"""Images per second of the data pipeline: RecordIO decode + random flip through a torch DataLoader.

Writes a RecordIO of a few thousand 112x112 JPEGs in a temp dir, then times
  - load_face_arrays (everything decoded into memory, what the CPU trainer uses),
  - RecordIODataset + horizontal flip through a DataLoader with 0 (in-process baseline), 1 and 2 workers,
  - synthetic face rendering (x2softmax.data.synthetic.generate_images), when that module provides it.
Usage: .venv/bin/python bench/data_pipeline.py [--images 3000] [--batch 128] [--synthetic 64]
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from x2softmax.data.images import encode_image
from x2softmax.data.recordio import RecordIODataset, load_face_arrays, write_face_recordio


def face_like(rng: np.random.Generator) -> np.ndarray:
    """A smooth 112x112 image with some texture: JPEG size and decode cost close to an aligned face."""
    small = rng.integers(0, 256, (14, 14, 3), dtype=np.uint8)
    img = cv2.resize(small, (112, 112), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    img += rng.normal(0, 6, img.shape).astype(np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_bench_set(out: Path, n: int, classes: int = 100) -> Path:
    """RecordIO of n JPEG images over `classes` identities."""
    rng = np.random.default_rng(0)
    labels = np.sort(rng.integers(0, classes, n))
    return write_face_recordio(out, ((int(c), encode_image(face_like(rng), ".jpg", 95)) for c in labels), classes)


class RandomFlip:
    """Horizontal flip with probability 1/2, then HWC uint8 -> CHW uint8 tensor."""

    def __call__(self, img: np.ndarray) -> torch.Tensor:
        if np.random.random() < 0.5:
            img = img[:, ::-1]
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    count = fn()
    return count, time.perf_counter() - start


def loader_images(directory: Path, workers: int, batch: int) -> int:
    dataset = RecordIODataset(directory, transform=RandomFlip())
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=False
    )
    return sum(len(labels) for _, labels in loader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--synthetic", type=int, default=64, help="synthetic images to render (0: skip)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "train"
        _, seconds = timed(lambda: (write_bench_set(directory, args.images), args.images)[1])
        rows.append(("write RecordIO (encode JPEG q95)", f"{args.images / seconds:10.0f}"))
        n, seconds = timed(lambda: len(load_face_arrays(directory)[1]))
        rows.append(("load_face_arrays (threads, into memory)", f"{n / seconds:10.0f}"))
        baseline = None
        for workers in (0, 1, 2):
            n, seconds = timed(lambda w=workers: loader_images(directory, w, args.batch))
            rate = n / seconds
            baseline = baseline or rate
            label = f"DataLoader decode+flip, {workers} worker{'s' if workers != 1 else ''}"
            rows.append((label, f"{rate:10.0f}   x{rate / baseline:.2f} vs 0 workers"))
    try:
        generate_images = getattr(importlib.import_module("x2softmax.data.synthetic"), "generate_images", None)
    except ImportError:
        generate_images = None
    if generate_images is None or args.synthetic <= 0:
        rows.append(("synthetic generate_images", "     skipped (not available or --synthetic 0)"))
    else:
        n, seconds = timed(lambda: len(generate_images(None, args.synthetic, 0)[0]))
        rows.append(("synthetic generate_images (render 112x112)", f"{n / seconds:10.0f}"))
    width = max(len(name) for name, _ in rows)
    print(f"{'stage':<{width}}  images/s  ({args.images} images, batch {args.batch}, torch threads 1)")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
