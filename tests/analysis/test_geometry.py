"""Angles between class centres, compactness and score overlap against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from x2softmax.analysis import geometry
from x2softmax.analysis.geometry import (
    class_geometry, compactness_table, kept_margins, nearest_centre_angles, overlap_coefficient,
)


def _simplex(n: int) -> np.ndarray:
    """n unit vectors of a regular simplex (pairwise cosine −1/(n−1)) in n dimensions."""
    centred = np.eye(n) - 1.0 / n
    return centred / np.linalg.norm(centred, axis=1, keepdims=True)


def test_orthogonal_and_simplex_centres():
    assert np.allclose(nearest_centre_angles(np.eye(5) * 3.0), np.pi / 2)
    assert np.allclose(nearest_centre_angles(_simplex(6)), np.arccos(-1 / 5))


def test_nearest_index_and_chunking_agree_with_brute_force(monkeypatch):
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(37, 4))
    unit = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    cos = unit @ unit.T
    np.fill_diagonal(cos, -np.inf)
    expected = np.arccos(np.clip(cos.max(axis=1), -1, 1))
    monkeypatch.setattr(geometry, "_CHUNK_ELEMENTS", 37 * 5)  # 5 rows per chunk
    angles, nearest = nearest_centre_angles(weight, return_index=True)
    assert np.allclose(angles, expected, atol=1e-6)
    assert np.array_equal(nearest, cos.argmax(axis=1))


def test_bad_weights_are_rejected():
    with pytest.raises(ValueError, match="at least 2"):
        nearest_centre_angles(np.ones((1, 3)))
    with pytest.raises(ValueError, match="all-zero row"):
        nearest_centre_angles(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="2-D"):
        nearest_centre_angles(np.ones(3))


def test_class_geometry_uses_the_loss_margin(monkeypatch):
    calls = []

    def fake_margins(theta_w, loss_name, hparams):
        calls.append((loss_name, dict(hparams)))
        if loss_name == "magface":
            raise ValueError("magface has no fixed target logit")
        return np.full_like(theta_w, 0.5)

    monkeypatch.setattr(geometry, "realised_margins", fake_margins)
    weight = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.1]])
    frame = class_geometry(weight, np.array([5, 9, 2]), "arcface", {"m": 0.5})
    assert list(frame["nearest_class"]) == [1, 2, 1]
    assert frame.loc[0, "nearest_angle_deg"] == pytest.approx(90.0)
    assert np.allclose(frame["margin_deg"], np.rad2deg(0.5)) and frame.attrs["margin_note"] == ""
    assert calls == [("arcface", {"m": 0.5})]
    skipped = class_geometry(weight, None, "magface", {})
    assert skipped["margin_deg"].isna().all() and "no fixed target logit" in skipped.attrs["margin_note"]
    with pytest.raises(ValueError, match="one count per class"):
        class_geometry(weight, np.array([1, 2]), "arcface", {})


def test_realised_margins_match_the_margin_function():
    margins = pytest.importorskip("x2softmax.analysis.margins")
    theta = np.deg2rad(np.array([60.0, 90.0, 90.004, 150.0]))
    got = geometry.realised_margins(theta, "arcface", {"m": 0.5})
    assert np.allclose(got, margins.angular_margin("arcface", theta, m=0.5), atol=1e-6)


def test_compactness_by_hand():
    centres = np.eye(3)
    tilt = np.deg2rad(10.0)
    features = np.array([[np.cos(tilt), np.sin(tilt), 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    labels = np.array([0, 0, 1, 2, 2])
    table = compactness_table(features, labels, centres)
    assert table["n"] == 5
    assert table["mean_angle_to_centre_deg"] == pytest.approx((10 + 0 + 0 + 0 + 90) / 5)
    assert table["max_angle_to_centre_deg"] == pytest.approx(90.0)
    assert table["min_centre_angle_deg"] == pytest.approx(90.0)
    assert table["nearest_centre_accuracy"] == pytest.approx(4 / 5)
    with pytest.raises(ValueError, match="labels must lie"):
        compactness_table(features, labels + 1, centres)


def test_overlap_coefficient():
    assert overlap_coefficient(np.array([0.1, 0.2]), np.array([0.8, 0.9]), np.array([0, 0.5, 1])) == 0.0
    same = np.linspace(-1, 1, 101)
    assert overlap_coefficient(same, same, 20) == pytest.approx(1.0)
    # half of the impostors fall in the genuine bin: overlap = min(1, 0.5) + min(0, 0.5)
    assert overlap_coefficient(np.array([0.7, 0.8]), np.array([0.75, 0.2]), np.array([0, 0.5, 1])) == 0.5
    with pytest.raises(ValueError, match="non-empty"):
        overlap_coefficient(np.array([]), same)


def test_kept_margins_are_the_angles_of_the_features_to_the_bisector() -> None:
    def unit(deg: float) -> list[float]:
        return [np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))]

    weight = 3.0 * np.array([unit(0.0), unit(60.0), unit(180.0)])  # class 0's nearest is class 1; the bisector at 30°
    features = 2.0 * np.array([unit(-10.0), unit(10.0), unit(0.0), unit(50.0), unit(35.0), unit(170.0)])
    labels = np.array([0, 0, 0, 1, 1, 2])
    table = kept_margins(features, labels, weight)
    assert table["nearest_class"].tolist() == [1, 0, 1]
    assert table["weight_angle_deg"].to_numpy() == pytest.approx([60.0, 60.0, 120.0])
    # class 0: 30 - 10; class 1: 35 lies 5° past the bisector on class 1's side; class 2: its bisector with class 1
    # is at 120°, 50° from 170°
    assert table["kept_margin_deg"].to_numpy() == pytest.approx([20.0, 5.0, 50.0])
    assert kept_margins(features, labels, weight, quantile=1.0)["kept_margin_deg"].iloc[0] == pytest.approx(40.0)
    with pytest.raises(ValueError, match="labels must be 6 class ids in \\[0, 3\\)"):
        kept_margins(features, labels + 1, weight)
