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

Seeds: `TOY_DEFAULTS["seeds"]` networks are trained per loss and dimension, with seeds seed, seed + 1, ...; each
seed draws its own split, initialisation and batches. The plots show the first seed; the npz also holds, per seed,
the held-out samples and their angles to their own centre, from which `compactness_comparisons` computes the
difference of two losses' mean angles with a 95 % interval (held-out samples resampled, and the training noise:
the seed variance pooled over the losses, x2softmax.evaluate.seeds).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from x2softmax.evaluate.seeds import pooled_seed_variance, trained_interval
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
    "seeds": 3,  # networks per loss and dimension, seeded seed, seed + 1, ... (the comparison's seed spread)
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
    for key in ("classes", "steps", "batch_size", "hidden", "threads", "image_size", "seeds"):
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


def _train_once(x: np.ndarray, y: np.ndarray, loss: str, loss_hparams: Mapping[str, Any], dim: int,
                settings: Mapping[str, Any], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One toy network trained with `seed`: held-out indices, their unit features and the unit class centres."""
    rng = np.random.default_rng(seed)
    train_idx, test_idx = _split(y, float(settings["test_fraction"]), rng)
    classes = int(y.max()) + 1
    torch.manual_seed(seed)
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
            raise RuntimeError(f"toy run {loss} {dim}-D seed {seed}: non-finite loss at step {step}")
        optimiser.zero_grad(set_to_none=True)
        value.backward()
        optimiser.step()
    net.eval()
    with torch.no_grad():
        test_features = F.normalize(net(torch.from_numpy(x[test_idx])), dim=1).numpy()
        centres = F.normalize(weight.detach(), dim=1).numpy()
    return test_idx, test_features, centres


def _angles_to_own_centre(features: np.ndarray, labels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Angle (deg) of each unit feature to its own unit class centre."""
    cos = np.einsum("nd,nd->n", features.astype(np.float64), centres[labels].astype(np.float64))
    return np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0)))


def run_toy(loss: str, hparams: dict, dim: int, cfg: dict, out_path: Path) -> Path:
    """Train the toy network with `loss` and `dim`-D embeddings for every seed; write the first seed's held-out
    features, labels and centres, and every seed's held-out indices and angles to their centre (npz)."""
    if dim < 2:
        raise ValueError(f"toy embedding dimension must be at least 2, got {dim}")
    settings = resolve_toy_config(cfg)
    if settings["data"] == "digits":
        x, y = _digits(settings["classes"])
    else:
        x, y = _recordio_faces(Path(settings["train_dir"]), settings["classes"], settings["image_size"])
    seeds = [int(settings["seed"]) + i for i in range(settings["seeds"])]
    loss_hparams = _loss_hparams(loss, hparams, settings["scale"])
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(settings["threads"])
    try:
        runs = [_train_once(x, y, loss, loss_hparams, dim, settings, seed) for seed in seeds]
    finally:
        torch.set_num_threads(previous_threads)
    test_idx, test_features, centres = runs[0]

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
            seeds=np.array(seeds, dtype=np.int64),
            seed_test_index=np.stack([idx for idx, _, _ in runs]).astype(np.int64),
            seed_angles=np.stack([_angles_to_own_centre(f, y[idx], c) for idx, f, c in runs]),
        )
    return out


def compactness_comparisons(toys: Mapping[str, Mapping[str, np.ndarray]], loss: str, rivals: list[str],
                            n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """`loss` minus each rival: mean angle (deg) of a held-out sample to its own centre, averaged over the common
    seeds, with a 95 % interval that carries the training noise (`x2softmax.evaluate.seeds.trained_interval`: the
    held-out samples of each seed resampled, paired between the two losses, and the seed variance of the mean angle
    pooled over every loss of `toys` trained with several seeds) and each seed's difference and held-out interval.
    Negative = `loss` more compact.

    Rows: loss, rival, seeds, difference, ci_low, ci_high, seed_differences, seed_low, seed_high, seed_intervals
    (one "low:high" per seed); a rival without a run is left out.
    """
    rows = []
    pool = pooled_seed_variance({name: run["seed_angles"].mean(axis=1) for name, run in toys.items()
                                 if "seed_angles" in run})
    for rival in rivals:
        if rival not in toys or loss not in toys:
            continue
        mine, theirs = toys[loss], toys[rival]
        if "seed_angles" not in mine or "seed_angles" not in theirs:
            raise ValueError(f"toy runs of {loss}/{rival} hold no per-seed angles (written before seeds were added)")
        common = sorted(set(mine["seeds"].tolist()) & set(theirs["seeds"].tolist()))
        if not common:
            raise ValueError(f"toy runs of {loss} and {rival} share no seed")
        diffs = []
        for s in common:
            i, j = mine["seeds"].tolist().index(s), theirs["seeds"].tolist().index(s)
            if not np.array_equal(mine["seed_test_index"][i], theirs["seed_test_index"][j]):
                raise ValueError(f"toy runs of {loss} and {rival} seed {s} held out different samples")
            diffs.append(mine["seed_angles"][i] - theirs["seed_angles"][j])
        per_sample = np.stack(diffs)  # [seeds, samples]
        rng = np.random.default_rng(seed)
        n_seeds, n = per_sample.shape
        draws = rng.integers(0, n, size=(n_boot, n_seeds, n))
        boot_by_seed = np.take_along_axis(per_sample[None].repeat(n_boot, 0), draws, axis=2).mean(axis=2)  # [B, S]
        seed_means = per_sample.mean(axis=1)
        seed_lows, seed_highs = np.percentile(boot_by_seed, [2.5, 97.5], axis=0)
        interval = trained_interval(float(seed_means.mean()), boot_by_seed, pool)
        rows.append({"loss": loss, "rival": rival, "seeds": " ".join(map(str, common)),
                     "difference": float(seed_means.mean()), "ci_low": interval.low, "ci_high": interval.high,
                     "seed_differences": " ".join(f"{d:.6g}" for d in seed_means),
                     "seed_low": float(seed_means.min()), "seed_high": float(seed_means.max()),
                     "seed_intervals": " ".join(f"{lo:.6g}:{hi:.6g}" for lo, hi in zip(seed_lows, seed_highs))})
    return pd.DataFrame(rows, columns=["loss", "rival", "seeds", "difference", "ci_low", "ci_high",
                                       "seed_differences", "seed_low", "seed_high", "seed_intervals"])
