"""Pack an aligned image folder (one subfolder per identity) into an insightface RecordIO training set."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from x2softmax.data.align import IMAGE_SUFFIXES
from x2softmax.data.images import decode_image, encode_image, resize
from x2softmax.data.recordio import write_face_recordio
from x2softmax.io import atomic_write_text
from x2softmax.notices import warn


def list_identity_folder(folder: Path) -> list[tuple[str, list[Path]]]:
    """(identity name, sorted image files) for every subfolder holding images, in sorted name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: image folder not found")
    identities, empty = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            identities.append((sub.name, files))
        else:
            empty.append(sub.name)
    if not identities:
        raise ValueError(f"{folder}: no identity subfolders with images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if empty:
        warn(f"{folder}: {len(empty)} of {len(identities) + len(empty)} identity folders hold no images and were "
             f"skipped (first: {empty[0]})")
    return identities


def _encoded_samples(
    identities: list[tuple[str, list[Path]]], size: int, quality: int
) -> Iterator[tuple[int, bytes]]:
    total = sum(len(files) for _, files in identities)
    resized: list[tuple[Path, tuple[int, ...]]] = []
    with tqdm(total=total, desc="pack", unit="img", file=sys.stderr, mininterval=2.0) as progress:
        for class_id, (_, files) in enumerate(identities):
            for path in files:
                data = path.read_bytes()
                image = decode_image(data, source=str(path))
                is_jpeg = path.suffix.lower() in (".jpg", ".jpeg")
                if image.shape[:2] != (size, size):
                    resized.append((path, image.shape[:2]))
                if not (is_jpeg and image.shape[:2] == (size, size)):
                    data = encode_image(resize(image, size), ".jpg", quality)  # right-size JPEGs pass unchanged
                progress.update()
                yield class_id, data
    if resized:
        (path, (height, width)) = resized[0]
        warn(f"pack: {len(resized)} of {total} images are not {size}x{size} and were resized (first: {path} is "
             f"{width}x{height})")


def pack_folder(folder: Path, out_dir: Path, size: int = 112, quality: int = 95) -> Path:
    """Aligned image folder -> out_dir/train.rec, train.idx, property and classes.tsv (class_id, name, images)."""
    identities = list_identity_folder(folder)
    out_dir = Path(out_dir)
    samples = _encoded_samples(identities, size, quality)
    try:
        write_face_recordio(out_dir, samples, len(identities), image_size=size)
    finally:
        samples.close()  # ends the progress bar's line before any error message
    classes = pd.DataFrame(
        {
            "class_id": range(len(identities)),
            "name": [name for name, _ in identities],
            "images": [len(files) for _, files in identities],
        }
    )
    atomic_write_text(out_dir / "classes.tsv", classes.to_csv(sep="\t", index=False))
    return out_dir
