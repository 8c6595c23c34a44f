"""Tiny face RecordIO sets and run specs for the training tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from x2softmax.data.images import encode_image
from x2softmax.data.recordio import write_face_recordio
from x2softmax.runspec import RunSpec

torch.set_num_threads(1)

NUM_CLASSES = 4
IMAGES_PER_CLASS = 12
IMAGE_SIZE = 32


def make_faces(out_dir: Path, num_classes: int = NUM_CLASSES, per_class: int = IMAGES_PER_CLASS,
               size: int = IMAGE_SIZE, seed: int = 0) -> Path:
    """A RecordIO set of noisy class-specific colour patterns (PNG, lossless)."""
    rng = np.random.default_rng(seed)
    patterns = rng.integers(0, 256, (num_classes, size, size, 3))
    samples = []
    for c in range(num_classes):
        for _ in range(per_class):
            noisy = np.clip(patterns[c] + rng.normal(0, 20, patterns[c].shape), 0, 255).astype(np.uint8)
            samples.append((c, encode_image(noisy, ".png")))
    return write_face_recordio(out_dir, samples, num_classes, size)


@pytest.fixture(scope="session")
def faces_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared tiny training set (4 classes x 12 images, 32x32)."""
    return make_faces(tmp_path_factory.mktemp("faces") / "train")


BASE_SPEC: dict[str, Any] = {
    "run": "tiny",
    "loss": {"name": "cosface", "hparams": {"s": 16.0, "m": 0.2}},
    "model": {"backbone": "iresnet_tiny", "embedding_size": 16, "input_size": 32, "dropout": 0.0},
    "data": {"train_dir": "", "in_memory": True, "workers": 0},
    "train": {"batch_size": 8, "epochs": 2, "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0005,
              "schedule": {"name": "multistep", "milestones": [1], "gamma": 0.1, "warmup_epochs": 0},
              "grad_clip": 5.0, "amp": "auto", "scaler_growth_interval": 2000, "seed": 2048, "deterministic": True,
              "checkpoint_every": 4, "log_every": 3, "threads": 1, "partial_fc": 1.0,
              "val": {"every": 0, "data_dir": "", "sets": []}}}


@pytest.fixture
def make_spec(faces_dir: Path):
    """Factory: the tiny spec pointing at `faces_dir`, with nested overrides {"train": {"epochs": 1}, ...}."""

    def build(**overrides: dict[str, Any]) -> RunSpec:
        spec = copy.deepcopy(BASE_SPEC)
        spec["data"]["train_dir"] = str(faces_dir)
        for section, values in overrides.items():
            if isinstance(values, dict):
                spec[section].update(values)
            else:
                spec[section] = values
        return RunSpec.from_dict(spec)

    return build
