"""The toy example: 8 classes embedded on the circle (2-D) or the sphere (3-D) by each margin loss.

A small network maps inputs to `dim`-D features; the margin loss sees the cosine between the L2-normalised features
and an 8-row class-weight matrix (also normalised), exactly as the face-recognition head does. The held-out features
(unit vectors), their labels and the normalised class weights (the centres) are saved for plotting.

Why a smaller scale s in 2-D and 3-D: 8 centres on a circle are at most 45° apart, so a large margin (ArcFace
m = 0.5 rad ≈ 28.6°; CosFace m = 0.35 asks for 54° between centres 45° apart; X2's margin only exists above
θ_w ≈ 40°) cannot be met for every class. With s = 64 a violated margin leaves the target logit tens of units below
a non-target one, the softmax saturates (p_target ≈ 0) and every sample pulls with the full gradient s·(p − onehot)
however close it is to its boundary; a smaller s keeps the probabilities graded, so the pull fades as a sample approaches its centre. On the
digits, s = 16 gave tighter clusters than s = 64 for ArcFace and X2 in both 2-D and 3-D. `TOY_DEFAULTS["scale"]`
sets that override (None keeps the loss's own s); the npz records the hyperparameters actually used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from x2softmax.io import atomic_path

TOY_DEFAULTS: dict[str, Any] = {
    "data": "digits",  # "digits": sklearn's 8x8 digits (classes 0..7); "recordio": 8 identities of a training set
    "train_dir": None,  # RecordIO directory (train.rec/.idx/property) when data == "recordio"
    "image_size": 32,  # side the RecordIO images are resized to (recordio only)
    "classes": 8,  # number of classes (digits: the first 8 digits; recordio: the largest identities)
    "test_fraction": 0.25,  # share of each class held out; the saved features are those of the held-out samples
    "steps": 600,  # optimiser steps
    "batch_size": 128,  # samples per step
    "lr": 0.01,  # Adam learning rate (network and class weights)
    "hidden": 128,  # width of the MLP hidden layers (digits) / channels of the last conv (recordio)
    "seed": 2048,  # seeds the split, the initialisation, the batches and stochastic margins
    "scale": 16.0,  # replaces the loss's s in the toy (see the module docstring); None keeps the loss's s
    "threads": 1,  # torch CPU threads while training
}


def resolve_toy_config(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """`cfg` merged over TOY_DEFAULTS; unknown keys and bad values raise ValueError naming them."""
    merged = dict(TOY_DEFAULTS)
    for key, value in (cfg or {}).items():
        if key not in TOY_DEFAULTS:
            raise ValueError(f"unknown toy setting {key!r}; known: {sorted(TOY_DEFAULTS)}")
        merged[key] = value
    if merged["data"] not in ("digits", "recordio"):
        raise ValueError(f"toy setting data must be 'digits' or 'recordio', got {merged['data']!r}")
    if merged["data"] == "recordio" and not merged["train_dir"]:
        raise ValueError("toy setting data='recordio' needs train_dir (a RecordIO training directory)")
    for key in ("classes", "steps", "batch_size", "hidden", "threads", "image_size"):
        if not isinstance(merged[key], int) or merged[key] < 1:
            raise ValueError(f"toy setting {key} must be a positive integer, got {merged[key]!r}")
    if merged["classes"] < 2:
        raise ValueError(f"toy setting classes must be at least 2, got {merged['classes']}")
    if not 0.0 < float(merged["test_fraction"]) < 1.0:
        raise ValueError(f"toy setting test_fraction must be in (0, 1), got {merged['test_fraction']!r}")
    if float(merged["lr"]) <= 0:
        raise ValueError(f"toy setting lr must be positive, got {merged['lr']!r}")
    if merged["scale"] is not None and float(merged["scale"]) <= 0:
        raise ValueError(f"toy setting scale must be positive or null, got {merged['scale']!r}")
    return merged


def _build_loss(name: str, hparams: Mapping[str, Any]) -> nn.Module:
    """The margin loss from the loss registry."""
    from x2softmax.losses import build_loss

    return build_loss(name, **dict(hparams))


def _loss_hparams(name: str, hparams: Mapping[str, Any], scale: float | None) -> dict[str, Any]:
    """Hyperparameters with s replaced by the toy scale for losses that have a scale s."""
    out = dict(hparams)
    if scale is None:
        return out
    if "s" in out:
        out["s"] = float(scale)
        return out
    from x2softmax.losses import default_hparams

    if "s" in default_hparams(name):
        out["s"] = float(scale)
    return out


def _digits(classes: int) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 8x8 digits of the first `classes` digits, standardised per pixel."""
    from sklearn.datasets import load_digits

    if classes > 10:
        raise ValueError(f"the digits data set has 10 classes, toy setting classes={classes}")
    data = load_digits()
    keep = data.target < classes
    x = data.data[keep].astype(np.float32) / 16.0
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-3)
    return x, data.target[keep].astype(np.int64)


def _recordio_faces(train_dir: Path, classes: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images of the `classes` largest identities of a RecordIO training set, as float CHW in [-1, 1]."""
    from x2softmax.data.recordio import load_face_arrays

    images, labels = load_face_arrays(Path(train_dir), size=size)
    ids, counts = np.unique(labels, return_counts=True)
    if len(ids) < classes:
        raise ValueError(f"{train_dir}: {len(ids)} identities, the toy needs {classes}")
    chosen = ids[np.argsort(-counts, kind="stable")[:classes]]
    keep = np.isin(labels, chosen)
    remap = {int(c): i for i, c in enumerate(sorted(chosen))}
    x = (images[keep].astype(np.float32) / 255.0 - 0.5) / 0.5
    y = np.array([remap[int(v)] for v in labels[keep]], dtype=np.int64)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y


def _split(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test indices: `fraction` of each class (at least one sample) is held out."""
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = max(1, int(round(fraction * len(idx))))
        if n_test >= len(idx):
            raise ValueError(f"class {c} has {len(idx)} sample(s): too few to hold some out")
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _network(input_shape: tuple[int, ...], hidden: int, dim: int) -> nn.Module:
    """An MLP for flat inputs, a 3-layer CNN for images; both end in a linear map to `dim` features."""
    if len(input_shape) == 1:
        return nn.Sequential(
            nn.Linear(input_shape[0], hidden), nn.BatchNorm1d(hidden), nn.PReLU(hidden),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.PReLU(hidden),
            nn.Linear(hidden, dim),
        )
    channels = input_shape[0]
    widths = (max(8, hidden // 4), max(8, hidden // 2), hidden)
    layers: list[nn.Module] = []
    for width in widths:
        conv = nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False)
        layers += [conv, nn.BatchNorm2d(width), nn.PReLU(width)]
        channels = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, dim))


def _logits(loss: nn.Module, features: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The loss's logits for raw features: cosine to the normalised weights (raw W·f for softmax)."""
    norms = features.norm(dim=1)
    if getattr(loss, "raw_logits", False):
        first = features @ weight.T
    else:
        first = F.normalize(features, dim=1) @ F.normalize(weight, dim=1).T
    return loss.margin_logits(first, labels, norms if getattr(loss, "needs_norms", False) else None)


def run_toy(loss: str, hparams: dict, dim: int, cfg: dict, out_path: Path) -> Path:
    """Train the toy network with `loss` and `dim`-D embeddings; write held-out features, labels, centres (npz)."""
    if dim < 2:
        raise ValueError(f"toy embedding dimension must be at least 2, got {dim}")
    settings = resolve_toy_config(cfg)
    rng = np.random.default_rng(settings["seed"])
    if settings["data"] == "digits":
        x, y = _digits(settings["classes"])
    else:
        x, y = _recordio_faces(Path(settings["train_dir"]), settings["classes"], settings["image_size"])
    train_idx, test_idx = _split(y, float(settings["test_fraction"]), rng)
    classes = int(y.max()) + 1

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(settings["threads"])
    try:
        torch.manual_seed(settings["seed"])
        loss_hparams = _loss_hparams(loss, hparams, settings["scale"])
        criterion = _build_loss(loss, loss_hparams)
        net = _network(x.shape[1:], settings["hidden"], dim)
        weight = nn.Parameter(torch.randn(classes, dim) * 0.01)
        optimiser = torch.optim.Adam([*net.parameters(), weight, *criterion.parameters()], lr=float(settings["lr"]))
        x_train = torch.from_numpy(x[train_idx])
        y_train = torch.from_numpy(y[train_idx])
        batch = min(settings["batch_size"], len(train_idx))
        net.train()
        criterion.train()
        for step in range(settings["steps"]):
            pick = torch.from_numpy(rng.choice(len(train_idx), size=batch, replace=False))
            features = net(x_train[pick])
            logits = _logits(criterion, features, weight, y_train[pick])
            value = F.cross_entropy(logits, y_train[pick]) + criterion.extra_loss(features.norm(dim=1))
            if not torch.isfinite(value):
                raise RuntimeError(f"toy run {loss} {dim}-D: non-finite loss at step {step}")
            optimiser.zero_grad(set_to_none=True)
            value.backward()
            optimiser.step()
        net.eval()
        with torch.no_grad():
            test_features = F.normalize(net(torch.from_numpy(x[test_idx])), dim=1).numpy()
            centres = F.normalize(weight.detach(), dim=1).numpy()
    finally:
        torch.set_num_threads(previous_threads)

    out = Path(out_path)
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            features=test_features.astype(np.float32),
            labels=y[test_idx],
            centres=centres.astype(np.float32),
            loss=np.array(loss),
            dim=np.array(dim),
            hparams=np.array(json.dumps(loss_hparams, sort_keys=True)),
            settings=np.array(json.dumps(settings, sort_keys=True, default=str)),
        )
    return out

