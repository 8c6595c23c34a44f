"""Per-image nuisance: pose, expression, light, quality and occlusion drawn at a split's nuisance level."""

from __future__ import annotations

import math

import numpy as np


def nuisance_at(nz: dict, level: float) -> dict:
    """Nuisance strengths scaled to `level` (probabilities capped at 1, the quality floor lowered)."""
    out = {k: v * level for k, v in nz.items()}
    for key in ("jpeg_prob", "lowres_prob", "occlusion_prob", "sunglasses_prob"):
        out[key] = min(1.0, out[key])
    out["jpeg_quality_min"] = max(5.0, 100.0 - (100.0 - nz["jpeg_quality_min"]) * level)
    return out


def draw_condition(rng: np.random.Generator, nz: dict) -> dict:
    """Draw one image's nuisance (pose, expression, light, quality, occlusion) at scaled strengths `nz`."""
    rad = math.pi / 180.0
    expr = nz["expression"]
    return {
        "yaw": float(np.clip(rng.normal(0.0, nz["yaw_deg"]), -80, 80)) * rad,
        "pitch": float(np.clip(rng.normal(0.0, nz["pitch_deg"]), -35, 35)) * rad,
        "roll": rng.normal(0.0, nz["roll_deg"]) * rad,
        "smile": min(1.0, rng.uniform(0, expr)) if rng.random() < 0.6 else 0.0,
        "open": min(1.0, rng.uniform(0, expr)) if rng.random() < 0.35 else 0.0,
        "brow_raise": min(1.0, rng.uniform(0, expr)) if rng.random() < 0.3 else 0.0,
        "eye_open": 0.15 if rng.random() < 0.04 else rng.uniform(0.8, 1.1),
        "gaze": rng.uniform(-0.35, 0.35),
        "age": rng.normal(0.0, nz["age_spread"]),
        "light_dir": rng.uniform(0, 2 * np.pi),
        "light": rng.uniform(0, nz["light"]),
        "brightness": math.exp(rng.normal(0.0, 0.12)),
        "tint": np.exp(rng.normal(0.0, nz["tint"], 3)),
        "gamma": math.exp(rng.normal(0.0, nz["gamma"])),
        "blur": rng.uniform(0, nz["blur"]),
        "motion": 0.0,
        "noise": rng.uniform(0, nz["noise"]),
        "jpeg": int(rng.uniform(nz["jpeg_quality_min"], 95)) if rng.random() < nz["jpeg_prob"] else 0,
        "lowres": rng.uniform(1.5, 3.5) if rng.random() < nz["lowres_prob"] else 1.0,
        "occlusion": int(rng.integers(1, 6)) if rng.random() < nz["occlusion_prob"] else 0,
        "sunglasses": bool(rng.random() < nz["sunglasses_prob"]),
        "landmark_noise": rng.normal(0.0, nz["landmark_noise"], (5, 2)),
        "background": rng.uniform(20, 235, 3),
        "clothes": rng.uniform(10, 240, 3),
        "scene": int(rng.integers(0, 2**31)),
    }


def jitter_condition(base: dict, rng: np.random.Generator, nz: dict) -> dict:
    """A video frame: the media's condition with small pose, expression and noise changes."""
    rad = math.pi / 180.0
    cond = dict(base)
    cond["yaw"] = base["yaw"] + rng.normal(0, 3.0) * rad
    cond["pitch"] = base["pitch"] + rng.normal(0, 2.0) * rad
    cond["roll"] = base["roll"] + rng.normal(0, 2.0) * rad
    cond["smile"] = float(np.clip(base["smile"] + rng.normal(0, 0.15), 0, 1))
    cond["open"] = float(np.clip(base["open"] + rng.normal(0, 0.15), 0, 1))
    cond["eye_open"] = 0.15 if rng.random() < 0.05 else rng.uniform(0.8, 1.1)
    cond["landmark_noise"] = rng.normal(0.0, nz["landmark_noise"], (5, 2))
    cond["motion"] = rng.uniform(0, 2.0 * nz["blur"]) if rng.random() < 0.5 else 0.0
    cond["noise"] = rng.uniform(0, nz["noise"])
    return cond
