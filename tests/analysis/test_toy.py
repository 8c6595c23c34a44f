"""The toy example trains quickly, deterministically, and writes unit-norm held-out features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from x2softmax.analysis import toy
from x2softmax.analysis.toy import TOY_DEFAULTS, resolve_toy_config, run_toy

FAST = {"steps": 25, "batch_size": 64, "hidden": 32}


class LocalCosFace(nn.Module):
    """A minimal CosFace with the loss-library interface (straight-through margin)."""

    raw_logits = False
    needs_norms = False

    def __init__(self, s: float = 64.0, m: float = 0.35):
        super().__init__()
        self.s, self.m = s, m

    def margin_logits(self, cosine, labels, norms=None):
        return (cosine - self.m * nn.functional.one_hot(labels, cosine.shape[1])) * self.s

    def extra_loss(self, norms):
        return torch.zeros(())


@pytest.fixture
def local_loss(monkeypatch):
    built = []

    def build(name, hparams):
        built.append(dict(hparams))
        return LocalCosFace(**hparams)

    monkeypatch.setattr(toy, "_build_loss", build)
    return built


def test_deterministic_unit_features(local_loss, tmp_path):
    first = run_toy("cosface", {"s": 64.0, "m": 0.35}, 2, FAST, tmp_path / "a" / "cosface_2d.npz")
    second = run_toy("cosface", {"s": 64.0, "m": 0.35}, 2, FAST, tmp_path / "cosface_2d.npz")
    a, b = np.load(first), np.load(second)
    for key in ("features", "labels", "centres"):
        assert np.array_equal(a[key], b[key])
    assert a["features"].shape[1] == 2 and a["centres"].shape == (8, 2)
    assert np.allclose(np.linalg.norm(a["features"], axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(a["centres"], axis=1), 1.0, atol=1e-5)
    assert set(np.unique(a["labels"])) == set(range(8))
    assert str(a["loss"]) == "cosface" and int(a["dim"]) == 2
    assert local_loss[0]["s"] == TOY_DEFAULTS["scale"]  # the low-dimensional scale override
    assert not list(tmp_path.glob("*.tmp"))


def test_scale_override_can_be_disabled(local_loss, tmp_path):
    run_toy("cosface", {"s": 64.0}, 3, FAST | {"scale": None}, tmp_path / "c.npz")
    assert local_loss[-1]["s"] == 64.0


def test_training_separates_the_classes(local_loss, tmp_path):
    from x2softmax.analysis.geometry import compactness_table

    out = np.load(run_toy("cosface", {"s": 64.0, "m": 0.35}, 3, {"steps": 150}, tmp_path / "t.npz"))
    table = compactness_table(out["features"], out["labels"], out["centres"])
    assert table["nearest_centre_accuracy"] > 0.8


def test_real_losses_run(tmp_path):
    pytest.importorskip("x2softmax.losses")
    for name in ("softmax", "sphereface", "x2softmax"):
        out = np.load(run_toy(name, {}, 2, FAST, tmp_path / f"{name}.npz"))
        assert np.all(np.isfinite(out["features"]))


@pytest.mark.parametrize(("cfg", "message"), [
    ({"stepz": 3}, "unknown toy setting 'stepz'"),
    ({"data": "mnist"}, "must be 'digits' or 'recordio'"),
    ({"data": "recordio"}, "needs train_dir"),
    ({"steps": 0}, "steps must be a positive integer"),
    ({"test_fraction": 1.5}, "test_fraction"),
])
def test_bad_settings(cfg, message):
    with pytest.raises(ValueError, match=message):
        resolve_toy_config(cfg)


def test_recordio_faces(local_loss, tmp_path):
    recordio = pytest.importorskip("x2softmax.data.recordio")
    from x2softmax.data.images import encode_image

    rng = np.random.default_rng(1)
    samples = []
    for cls in range(10):
        colour = rng.integers(0, 255, 3)
        for _ in range(4 if cls == 9 else 6):  # class 9 is the smallest: left out of the 8 largest
            img = np.clip(colour + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
            samples.append((cls, encode_image(img, ".jpg", 90)))
    recordio.write_face_recordio(tmp_path / "train", samples, num_classes=10, image_size=32)
    cfg = FAST | {"data": "recordio", "train_dir": str(tmp_path / "train"), "image_size": 16, "batch_size": 16}
    out = np.load(run_toy("cosface", {"s": 64.0}, 3, cfg, tmp_path / "faces.npz"))
    assert out["centres"].shape == (8, 3) and set(np.unique(out["labels"])) <= set(range(8))
    assert np.allclose(np.linalg.norm(out["features"], axis=1), 1.0, atol=1e-5)


def test_every_seed_is_trained_and_recorded(local_loss, tmp_path):
    out = np.load(run_toy("cosface", {"s": 64.0, "m": 0.35}, 2, FAST | {"seeds": 2}, tmp_path / "s.npz"))
    assert out["seeds"].tolist() == [TOY_DEFAULTS["seed"], TOY_DEFAULTS["seed"] + 1]
    assert out["seed_angles"].shape == out["seed_test_index"].shape == (2, len(out["labels"]))
    assert not np.array_equal(out["seed_test_index"][0], out["seed_test_index"][1])  # each seed its own split
    first = np.rad2deg(np.arccos(np.clip(np.sum(out["features"] * out["centres"][out["labels"]], axis=1), -1, 1)))
    assert np.allclose(out["seed_angles"][0], first, atol=0.05)  # float32 features  # the plotted run is the first seed


def _planted(angles: list[list[float]], seeds=(1, 2, 3)) -> dict[str, np.ndarray]:
    return {"seeds": np.array(seeds), "seed_test_index": np.tile(np.arange(len(angles[0])), (len(seeds), 1)),
            "seed_angles": np.array(angles, dtype=float)}


def test_compactness_comparison_interval_and_seed_spread():
    rng = np.random.default_rng(0)
    rival = rng.uniform(5, 15, (3, 200))
    toys = {"x2softmax": _planted(list(rival - 2.0 + rng.normal(0, 0.5, (3, 200)))), "arcface": _planted(list(rival))}
    row = toy.compactness_comparisons(toys, "x2softmax", ["arcface", "absent"]).iloc[0]
    assert row["rival"] == "arcface" and row["seeds"] == "1 2 3"
    assert row["ci_low"] < row["difference"] < row["ci_high"] < 0 and row["difference"] == pytest.approx(-2.0, abs=0.1)
    assert row["seed_low"] <= row["difference"] <= row["seed_high"] and len(row["seed_intervals"].split()) == 3
    mixed = {"x2softmax": _planted([list(rival[0] - 3), list(rival[1] + 3), list(rival[2])]), "arcface": toys["arcface"]}
    row = toy.compactness_comparisons(mixed, "x2softmax", ["arcface"]).iloc[0]
    assert row["seed_low"] == pytest.approx(-3) and row["seed_high"] == pytest.approx(3)
    assert row["ci_low"] < -3 and row["ci_high"] > 3  # the seeds' spread (pooled training noise) is in the interval
    with pytest.raises(ValueError, match="share no seed"):
        toy.compactness_comparisons({"x2softmax": _planted(list(rival), (7, 8, 9)), "arcface": toys["arcface"]},
                                    "x2softmax", ["arcface"])
