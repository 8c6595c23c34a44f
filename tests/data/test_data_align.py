"""Alignment: the similarity estimate, landmarks landing on the template, aligned IJB stores, dlib folders."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from x2softmax.data.align import (
    align_face,
    align_folder,
    align_ijb_suite,
    five_points_from_68,
    load_aligned_store,
    similarity_transform,
    template,
)
from x2softmax.data.ijb import write_ijb_meta
from x2softmax.data.images import encode_image


def similarity(scale: float, angle: float, tx: float, ty: float) -> np.ndarray:
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_estimate_matches_scikit_image() -> None:
    from skimage.transform import SimilarityTransform

    rng = np.random.default_rng(0)
    src, dst = rng.uniform(0, 200, (5, 2)), template()
    reference = SimilarityTransform.from_estimate(src, dst)
    np.testing.assert_allclose(similarity_transform(src, dst), reference.params[:2], atol=1e-9)


def test_exact_similarity_is_recovered() -> None:
    known = similarity(1.7, 0.3, 20.0, -5.0)
    src = template()
    np.testing.assert_allclose(similarity_transform(src, apply(known, src)), known, atol=1e-9)
    with pytest.raises(ValueError, match="one point"):
        similarity_transform(np.ones((5, 2)), src)


def blob_image(points: np.ndarray, shape: tuple[int, int], sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = np.zeros(shape, dtype=np.float64)
    for x, y in points:
        img += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return np.repeat((255 * np.clip(img, 0, 1)).astype(np.uint8)[..., None], 3, axis=2)


@pytest.mark.parametrize("size", [112, 56])
def test_aligned_landmarks_land_on_the_template(size: int) -> None:
    # Landmarks = the template moved by a known similarity: aligning must move them back.
    known = similarity(2.2, -0.25, 40.0, 70.0)
    landmarks = apply(known, template(112))
    image = blob_image(landmarks, (400, 400), sigma=2.0 * 2.2)
    aligned = align_face(image, landmarks, size=size)
    assert aligned.shape == (size, size, 3) and aligned.dtype == np.uint8
    weight = aligned[..., 0].astype(np.float64)
    yy, xx = np.mgrid[:size, :size]
    for x, y in template(size):
        window = (np.abs(xx - x) < 6 * size / 112) & (np.abs(yy - y) < 6 * size / 112)
        w = weight * window
        centre = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()
        assert np.hypot(*(centre - (x, y))) < 0.5
    assert aligned[0, 0].tolist() == [0, 0, 0]  # border 0


def test_five_points_from_68() -> None:
    points = np.arange(136, dtype=np.float64).reshape(68, 2)
    five = five_points_from_68(points)
    np.testing.assert_allclose(five[0], points[36:42].mean(axis=0))
    np.testing.assert_allclose(five[1], points[42:48].mean(axis=0))
    np.testing.assert_array_equal(five[2:], points[[30, 48, 54]])


def test_align_ijb_suite_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "IJBC"
    (root / "loose_crop").mkdir(parents=True)
    rng = np.random.default_rng(1)
    names = ["a.jpg", "b.jpg", "missing.jpg", "d.jpg"]
    landmarks = np.stack([apply(similarity(1.2, 0.1 * i, 10, 10), template()) for i in range(4)])
    for name in names:
        if name != "missing.jpg":
            (root / "loose_crop" / name).write_bytes(encode_image(rng.integers(0, 255, (160, 150, 3), np.uint8)))
    write_ijb_meta(root, "IJBC", names, [1, 1, 2, 2], [1, 2, 3, 4], landmarks, np.full(4, 0.9), np.array([[1, 2, 0]]))
    out = align_ijb_suite(root, "IJBC", tmp_path / "aligned", size=32)
    assert "1 of 4" in capsys.readouterr().err
    images, index = load_aligned_store(out)
    assert isinstance(images, np.memmap) and images.shape == (4, 32, 32, 3)
    assert index["name"].tolist() == names and index["ok"].tolist() == [1, 1, 0, 1]
    assert images[2].max() == 0 and images[0].max() > 0
    assert sorted(p.name for p in out.iterdir()) == ["images.npy", "index.tsv"]


def test_aligned_store_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"images\.npy"):
        load_aligned_store(tmp_path)
    np.save(tmp_path / "images.npy", np.zeros((2, 8, 8, 3), np.uint8))
    (tmp_path / "index.tsv").write_text("name\tfaceness\tok\na.jpg\t0.9\t1\n")
    with pytest.raises(ValueError, match=r"does not match 1 rows"):
        load_aligned_store(tmp_path)


def test_align_folder_with_dlib(tmp_path: Path) -> None:
    pytest.importorskip("dlib")
    if importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("face-recognition-models (the [detect] extra) is not installed")
    from skimage.data import astronaut

    src = tmp_path / "src" / "person"
    src.mkdir(parents=True)
    (src / "astronaut.jpg").write_bytes(encode_image(astronaut()))
    (src / "blank.png").write_bytes(encode_image(np.zeros((80, 80, 3), np.uint8), ".png"))
    dst = align_folder(tmp_path / "src", tmp_path / "dst", size=112)
    aligned = dst / "person" / "astronaut.jpg"
    assert aligned.is_file() and not (dst / "person" / "blank.png").exists()
    assert (dst / "no_face.txt").read_text() == "person/blank.png\tno face\n"
