"""5-point similarity alignment to the ArcFace 112x112 template; aligned IJB stores; dlib for raw folders."""

from __future__ import annotations

import importlib.util
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from x2softmax.data.ijb import load_ijb_suite
from x2softmax.data.images import decode_image, encode_image
from x2softmax.io import atomic_path, atomic_write_bytes, atomic_write_text

# (x, y) of left eye, right eye, nose tip, left and right mouth corner in a 112x112 crop (insightface arcface_src).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def template(size: int = 112) -> np.ndarray:
    """The ArcFace 5-point template scaled to a size x size crop."""
    return ARCFACE_TEMPLATE * (size / 112.0)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 4-DoF similarity (Umeyama 1991) mapping src points onto dst, as a 2x3 matrix."""
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if src.shape != dst.shape or len(src) < 2:
        raise ValueError(f"similarity_transform: need matching sets of >= 2 points, got {src.shape} and {dst.shape}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise ValueError("similarity_transform: landmarks contain NaN or infinity")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var <= 1e-12:
        raise ValueError("similarity_transform: landmarks are all at one point")
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[1] = -1.0
    rotation = u @ np.diag(d) @ vt
    scale = float((s * d).sum() / src_var)
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def align_face(image: np.ndarray, landmarks5: np.ndarray, size: int = 112) -> np.ndarray:
    """Warp a face so its 5 landmarks best match the ArcFace template (bilinear, border 0)."""
    matrix = similarity_transform(landmarks5, template(size))
    return cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def _align_file(path: Path, landmarks5: np.ndarray, size: int) -> np.ndarray | None:
    try:
        return align_face(decode_image(path.read_bytes(), source=str(path)), landmarks5, size)
    except (OSError, ValueError):
        return None


def align_ijb_suite(suite_root: Path, suite: str, out_dir: Path, size: int = 112, workers: int = 0) -> Path:
    """Align every image of an IJB suite into `out_dir/images.npy` + `index.tsv` (name, faceness, ok)."""
    meta = load_ijb_suite(suite_root, suite)
    out_dir = Path(out_dir)
    n = len(meta.names)
    ok = np.zeros(n, dtype=np.uint8)
    workers = workers or min(8, os.cpu_count() or 1)
    with atomic_path(out_dir / "images.npy") as tmp:
        store = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))

        def align_one(i: int) -> None:
            face = _align_file(meta.image_path(i), meta.landmarks[i], size)
            if face is not None:
                store[i] = face
                ok[i] = 1

        with ThreadPoolExecutor(max_workers=workers) as pool:
            progress = tqdm(total=n, desc=f"align {meta.suite}", unit="img", file=sys.stderr, mininterval=2.0)
            for _ in pool.map(align_one, range(n)):
                progress.update()
            progress.close()
        store.flush()
        del store
    index = pd.DataFrame({"name": meta.names, "faceness": meta.faceness, "ok": ok})
    atomic_write_text(out_dir / "index.tsv", index.to_csv(sep="\t", index=False))
    failed = int(n - ok.sum())
    if failed:
        print(
            f"warning: {failed} of {n} {meta.suite} images could not be read; stored as zero images with ok=0 "
            f"in {out_dir / 'index.tsv'}",
            file=sys.stderr,
        )
    return out_dir


def load_aligned_store(out_dir: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """Memory-mapped aligned images [N, S, S, 3] and their index table (name, faceness, ok)."""
    out_dir = Path(out_dir)
    images_path, index_path = out_dir / "images.npy", out_dir / "index.tsv"
    for path in (images_path, index_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: aligned store file not found (run the align step)")
    try:
        images = np.load(images_path, mmap_mode="r")
    except ValueError as err:
        raise ValueError(f"{images_path}: not a valid .npy array ({err})") from None
    index = pd.read_csv(index_path, sep="\t", dtype={"name": str})
    if list(index.columns) != ["name", "faceness", "ok"]:
        raise ValueError(f"{index_path}: expected columns name, faceness, ok; got {list(index.columns)}")
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8 or len(images) != len(index):
        raise ValueError(
            f"{images_path}: shape {images.shape} dtype {images.dtype} does not match {len(index)} rows of {index_path}"
        )
    return images, index


def _dlib_models() -> tuple[Any, Any]:
    try:
        import dlib
    except ImportError:
        raise ImportError(
            "align_folder needs dlib: pip install 'x2softmax[detect]' (dlib-bin and face-recognition-models)"
        ) from None
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "align_folder needs the dlib landmark model: pip install 'x2softmax[detect]' (face-recognition-models)"
        )
    model = Path(spec.submodule_search_locations[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not model.is_file():
        raise FileNotFoundError(f"{model}: dlib 68-point model missing from face-recognition-models")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(model))


def five_points_from_68(points68: np.ndarray) -> np.ndarray:
    """Map 68 iBUG landmarks to the 5 ArcFace points: eye centres, nose tip, mouth corners."""
    points68 = np.asarray(points68, dtype=np.float64)
    if points68.shape != (68, 2):
        raise ValueError(f"five_points_from_68: expected [68, 2] landmarks, got {points68.shape}")
    return np.stack(
        [points68[36:42].mean(axis=0), points68[42:48].mean(axis=0), points68[30], points68[48], points68[54]]
    )


def detect_landmarks5(image: np.ndarray, detector: Any, predictor: Any) -> np.ndarray | None:
    """5 landmarks of the largest face dlib finds in an RGB image, or None when there is no face."""
    faces = detector(image, 1)
    if len(faces) == 0:
        return None
    face = max(faces, key=lambda r: r.width() * r.height())
    shape = predictor(image, face)
    return five_points_from_68(np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64))


def align_folder(src: Path, dst: Path, size: int = 112, detector: str = "dlib") -> Path:
    """Detect, landmark and align every image under `src` into the same relative paths under `dst`."""
    if detector != "dlib":
        raise ValueError(f"align_folder: unknown detector {detector!r}; only 'dlib' is available offline")
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: image folder not found")
    face_detector, predictor = _dlib_models()
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    no_face: list[str] = []
    for path in tqdm(files, desc="detect+align", unit="img", file=sys.stderr, mininterval=2.0):
        relative = path.relative_to(src)
        try:
            image = decode_image(path.read_bytes(), source=str(path))
        except ValueError:
            no_face.append(f"{relative.as_posix()}\tunreadable")
            continue
        points = detect_landmarks5(image, face_detector, predictor)
        if points is None:
            no_face.append(f"{relative.as_posix()}\tno face")
            continue
        fmt = ".png" if path.suffix.lower() == ".png" else ".jpg"
        target = (dst / relative).with_suffix(fmt)
        atomic_write_bytes(target, encode_image(align_face(image, points, size), fmt=fmt))
    atomic_write_text(dst / "no_face.txt", "".join(line + "\n" for line in no_face))
    if no_face:
        print(f"warning: {len(no_face)} of {len(files)} images had no detectable face; see {dst / 'no_face.txt'}",
              file=sys.stderr)
    return dst
