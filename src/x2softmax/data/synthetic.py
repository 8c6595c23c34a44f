"""Synthetic face identities (family-structured, long-tailed) rendered with OpenCV and written in the real formats."""

from __future__ import annotations

import copy
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.special import ndtr

from x2softmax.data.align import similarity_transform, template
from x2softmax.data.ijb import write_ijb_meta
from x2softmax.data.images import encode_image
from x2softmax.data.pairs import write_bin
from x2softmax.data.pixels import blend, correlate, motion_kernel
from x2softmax.data.recordio import write_face_recordio
from x2softmax.data.synthetic_plan import S_VAL_PLAN, genuine_capacity, val_pair_plan
from x2softmax.io import atomic_write_bytes, atomic_write_json, file_sha256
from x2softmax.vocabulary import BENCHMARKS, IJB_SUITES

GENERATOR_VERSION = "2"  # 2: CPU-independent pixel operations, shared-image verification sets

DEFAULTS: dict[str, Any] = {
    "seed": 20231208,  # master seed; every image's RNG derives from (seed, stream, identity/pair, index)
    "jpeg_quality": 92,  # JPEG quality of every stored image (train records, .bin pairs, IJB loose crops)
    "population": {
        # Identities are latent vectors: family prototype ~ N(0, I) plus a per-identity deviation.
        "identity_spread": 0.55,  # std of an identity's deviation from its family prototype (smaller: look-alikes)
        "family_tightness": [0.6, 1.5],  # per-family multiplier on identity_spread, drawn log-uniform in this range
        "appearance_jitter": 0.08,  # per-image latent jitter around the identity (hair, colours, accessories)
    },
    "nuisance": {  # per-image nuisance at level 1.0; each split scales intensities and probabilities by its level
        "yaw_deg": 14.0,  # std of head yaw (horizontal rotation that moves the features across the face)
        "pitch_deg": 7.0,  # std of head pitch
        "roll_deg": 10.0,  # std of in-plane rotation of loose crops (alignment removes it from aligned images)
        "landmark_noise": 1.2,  # std of the detector's landmark error used for alignment (pixels at 112)
        "expression": 0.7,  # maximum smile / mouth opening / brow raise (fraction of the full expression)
        "age_spread": 0.12,  # std of an image's age around the identity's age (age in [0, 1])
        "light": 0.35,  # maximum strength of the directional light gradient (fraction of brightness)
        "gamma": 0.2,  # std of log-gamma
        "tint": 0.06,  # std of the per-channel colour cast
        "blur": 1.0,  # maximum Gaussian blur sigma (pixels at 112)
        "noise": 5.0,  # maximum std of Gaussian pixel noise (grey levels)
        "jpeg_prob": 0.25,  # probability of a low-quality JPEG round trip (compression artefacts)
        "jpeg_quality_min": 20,  # lowest quality of that round trip
        "lowres_prob": 0.08,  # probability of a down-and-up sampling (low-resolution media)
        "occlusion_prob": 0.12,  # probability of an occluder (bar, patch, hand, scarf, hat)
        "sunglasses_prob": 0.03,  # probability of dark lenses over the eyes
    },
    "train": {
        "identities": 300,  # training classes
        "families": 60,  # families of look-alike identities among them
        "images_min": 5,  # smallest class size
        "images_max": 80,  # largest class size
        "size_exponent": 1.0,  # class sizes follow a power-law density n^-exponent on [images_min, images_max]
        "nuisance": 1.0,  # nuisance level of training images
    },
    "eval": {  # the evaluation population (new families, disjoint from training) shared by val/ and IJB*/
        "identities": 400,
        "families": 80,
    },
    "val": {
        # 24,000 pairs in 10 folds (LFW has 6,000), over 200 identities x 16 images: each image is in about 15 pairs,
        # so an evaluation embeds 3,200 images per set. bench/eval_set_power.py sizes the sets; measured on the
        # embedded default, the widest paired 10-fold half-width went from +-1.63 (6,000 pairs over 1,200 images)
        # to +-0.74 (cplfw, X2 exact-gradient ablation vs x2softmax; reports/tables/03_power.csv).
        "pairs": 24000,  # pairs per verification set (multiple of 20: 10 folds, half genuine, half impostor)
        "identities": 200,  # eval identities per set (whole families, for the look-alike impostors)
        "images": 16,  # images per identity and set (split into two roles of 8 in the frontal/profile, pose, age sets)
        "nuisance": 1.0,  # nuisance level of the verification images
        "profile_yaw_deg": [40.0, 70.0],  # |yaw| of the profile image of cfp_fp/vgg2_fp pairs (and cplfw's wide pose)
        "age_gap": [0.35, 0.7],  # age difference of agedb_30 / calfw pairs (age in [0, 1])
    },
    # Many small templates (2 images each on average): about 1,300 (IJB-B) and 3,900 (IJB-C) genuine template pairs
    # from about 450 and 900 templates, and every impostor pair (about 100,000 and 400,000: FAR 1e-4 is measurable).
    # bench/eval_set_power.py: a paired IJB-C TAR@FAR=1e-3 difference then resolves about +-3 points.
    "ijbb": {
        "subjects": 70,  # identities in the suite
        "templates": [4, 9],  # templates per subject (inclusive range)
        "media": [1, 2],  # media per template
        "frames": [2, 3],  # frames per video media (a still media has one image)
        "video_prob": 0.25,  # probability that a media is a video
        "nuisance": 1.6,  # nuisance level (more pose, blur, low quality than the verification sets)
        "impostor_pairs": 500000,  # cap on impostor template pairs (all of them when fewer); all genuine pairs kept
        "crop": [150, 200],  # loose crop side range (pixels), width and height drawn separately
    },
    "ijbc": {
        "subjects": 100,
        "templates": [6, 12],
        "media": [1, 2],
        "frames": [2, 3],
        "video_prob": 0.3,
        "nuisance": 1.9,
        "impostor_pairs": 500000,
        "crop": [150, 200],
    },
}

TEMPLATE_112 = template(112)

# RNG streams: every random draw is seeded from (seed, stream, ...) so output never depends on generation order.
_S_TRAIN_POP, _S_EVAL_POP, _S_TRAIN_IMG, _S_VAL_PLAN, _S_VAL_IMG = 1, 2, 3, S_VAL_PLAN, 20
_S_IJB_PLAN, _S_IJB_MEDIA, _S_IJB_IMG, _S_BENCH = 30, 40, 50, 60

# Identity appearance: name, low, high. An identity's value is low + (high - low) * Phi(latent).
# Geometry is in "face units": pixels of the 112x112 ArcFace frame, x relative to the face's vertical axis (x = 56).
_FIELDS = (
    ("face_hw", 32.0, 43.0),  # face half width
    ("face_top", 2.0, 16.0),  # top of the head
    ("chin_y", 103.0, 117.0),
    ("jaw", 0.5, 0.95),  # jaw width relative to the cheeks
    ("cheek", 0.88, 1.06),  # forehead width relative to the cheeks
    ("eye_dx", 15.0, 20.0),  # half the distance between the eyes
    ("eye_y", 48.5, 55.0),
    ("eye_w", 4.5, 7.8),
    ("eye_h", 1.9, 3.8),
    ("eye_tilt", -0.18, 0.18),
    ("iris", 0.0, 1.0),  # iris colour
    ("iris_size", 0.8, 1.25),
    ("brow_gap", 5.5, 11.0),
    ("brow_thick", 1.4, 4.4),
    ("brow_arch", -0.5, 3.8),
    ("brow_len", 9.0, 15.0),
    ("brow_slant", -0.25, 0.25),
    ("brow_dark", 0.35, 1.0),
    ("nose_y", 68.0, 76.0),
    ("nose_w", 6.5, 12.0),
    ("nose_len", 13.0, 26.0),
    ("mouth_y", 88.5, 96.0),
    ("mouth_hw", 11.0, 17.5),
    ("lip_up", 1.2, 3.6),
    ("lip_low", 1.6, 4.8),
    ("lip_red", 0.0, 1.0),
    ("skin_tone", 0.0, 1.0),
    ("skin_hue", -1.0, 1.0),
    ("hair_style", 0.0, 1.0),  # discrete: bald, buzz, short, long, fringe, swept, curly
    ("hair_color", 0.0, 1.0),
    ("hairline", 17.0, 34.0),
    ("hair_volume", 2.0, 13.0),
    ("hair_part", -1.0, 1.0),
    ("beard", 0.0, 1.0),  # discrete: none (< 0.62), moustache, goatee, full, stubble
    ("beard_density", 0.45, 1.0),
    ("glasses", 0.0, 1.0),  # glasses when > 0.82
    ("glasses_shape", 0.0, 1.0),
    ("glasses_color", 0.0, 1.0),
    ("glasses_size", 0.9, 1.25),
    ("ear_size", 0.8, 1.25),
    ("mole", 0.0, 1.0),  # a mole when > 0.7
    ("mole_x", -1.0, 1.0),
    ("mole_y", 0.0, 1.0),
    ("age", 0.0, 0.65),
    ("blush", 0.0, 1.0),
)
N_FIELDS = len(_FIELDS)
_LOW = np.array([f[1] for f in _FIELDS])
_SPAN = np.array([f[2] - f[1] for f in _FIELDS])
_NAMES = tuple(f[0] for f in _FIELDS)

_SKIN = np.array([[255, 226, 200], [240, 196, 165], [222, 170, 120], [196, 136, 90], [150, 96, 60], [95, 60, 42]])
_HAIR = np.array(
    [[22, 18, 16], [55, 36, 26], [95, 62, 38], [135, 70, 38], [170, 130, 80], [215, 190, 130], [232, 215, 170]]
)
_IRIS = np.array([[45, 28, 18], [90, 55, 30], [120, 95, 45], [70, 110, 70], [70, 110, 160], [120, 130, 140]])
_FRAMES = np.array([[20, 20, 20], [90, 55, 30], [170, 170, 175], [190, 160, 80], [140, 30, 40], [30, 50, 120]])
_GREY_HAIR = np.array([195.0, 195.0, 198.0])
_CIRCLE = np.exp(1j * np.linspace(0.0, 2.0 * np.pi, 20, endpoint=False))


# ----------------------------------------------------------------------------------------------------- config


def resolve_config(cfg: dict | None = None) -> dict:
    """Merge `cfg` over DEFAULTS and validate it; ValueError names an unknown key or a bad value."""
    resolved = copy.deepcopy(DEFAULTS)
    _merge(resolved, cfg or {}, "")
    _check(resolved)
    return resolved


def _merge(base: dict, override: dict, prefix: str) -> None:
    if not isinstance(override, dict):
        raise ValueError(f"synthetic config {prefix or '<root>'}: expected a mapping, got {type(override).__name__}")
    for key, value in override.items():
        name = f"{prefix}{key}"
        if key not in base:
            raise ValueError(f"synthetic config: unknown key {name!r} (known: {sorted(base)})")
        default = base[key]
        if isinstance(default, dict):
            _merge(default, value, name + ".")
            continue
        if isinstance(default, list):
            ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_number(v) for v in value)
            if not ok or value[0] > value[1]:
                raise ValueError(f"synthetic config {name}: expected a range [low, high], low <= high, got {value!r}")
            if isinstance(default[0], int) and not all(isinstance(v, int) for v in value):
                raise ValueError(f"synthetic config {name}: expected integers, got {value!r}")
            value = list(value)
        elif isinstance(default, int):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"synthetic config {name}: expected an integer, got {value!r}")
        elif not _is_number(value):
            raise ValueError(f"synthetic config {name}: expected a number, got {value!r}")
        if (min(value) if isinstance(value, list) else value) < 0:
            raise ValueError(f"synthetic config {name}: must be >= 0, got {value!r}")
        base[key] = value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check(cfg: dict) -> None:
    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise ValueError(f"synthetic config {key}: {what}")

    train, evalp, val = cfg["train"], cfg["eval"], cfg["val"]
    need(1 <= cfg["jpeg_quality"] <= 100, "jpeg_quality", f"must be in [1, 100], got {cfg['jpeg_quality']}")
    need(train["identities"] >= 2, "train.identities", "need at least 2 training identities")
    need(1 <= train["families"] <= train["identities"], "train.families", "must be in [1, train.identities]")
    need(train["images_min"] >= 1, "train.images_min", "must be >= 1")
    need(train["images_min"] <= train["images_max"], "train.images_max", "must be >= train.images_min")
    need(evalp["families"] >= 1, "eval.families", "must be >= 1")
    need(evalp["identities"] >= 2 * evalp["families"], "eval.identities", "need >= 2 per family (look-alike pairs)")
    pairs = val["pairs"]
    need(pairs >= 20 and pairs % 20 == 0, "val.pairs", f"must be a positive multiple of 20, got {pairs}")
    need(2 <= val["identities"] <= evalp["identities"], "val.identities", "must be in [2, eval.identities]")
    need(val["images"] >= 2, "val.images", f"must be >= 2, got {val['images']}")
    offered = min(genuine_capacity(name, val["images"]) for name in BENCHMARKS) * val["identities"]
    need(offered >= pairs // 2, "val.pairs",
         f"{pairs // 2} genuine pairs need more identities or images: val.identities x val.images offer {offered}")
    need(cfg["population"]["family_tightness"][0] > 0, "population.family_tightness", "must be > 0")
    need(cfg["nuisance"]["jpeg_quality_min"] <= 100, "nuisance.jpeg_quality_min", "must be <= 100")
    for suite in ("ijbb", "ijbc"):
        s = cfg[suite]
        need(2 <= s["subjects"] <= evalp["identities"], f"{suite}.subjects", "must be in [2, eval.identities]")
        for key in ("templates", "media", "frames"):
            need(s[key][0] >= 1, f"{suite}.{key}", "ranges must start at >= 1")
        need(s["video_prob"] <= 1, f"{suite}.video_prob", "must be a probability")
        need(s["crop"][0] >= 64, f"{suite}.crop", "crops must be at least 64 pixels")


# ------------------------------------------------------------------------------------------------- population


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def population(cfg: dict, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Identity latents float64 [N, N_FIELDS] and family index [N] of the 'train' or 'eval' population."""
    if split not in ("train", "eval"):
        raise ValueError(f"population: split must be 'train' or 'eval', got {split!r}")
    stream = _S_TRAIN_POP if split == "train" else _S_EVAL_POP
    n, n_families = cfg[split]["identities"], cfg[split]["families"]
    pop, seed = cfg["population"], cfg["seed"]
    low, high = np.log(pop["family_tightness"])
    prototypes = np.empty((n_families, N_FIELDS))
    spreads = np.empty(n_families)
    for f in range(n_families):
        rng = _rng(seed, stream, 0, f)
        prototypes[f] = rng.standard_normal(N_FIELDS)
        spreads[f] = pop["identity_spread"] * math.exp(rng.uniform(low, high))
    families = np.arange(n) % n_families
    latents = np.stack([_rng(seed, stream, 1, i).standard_normal(N_FIELDS) for i in range(n)])
    return prototypes[families] + spreads[families, None] * latents, families


def class_sizes(n_classes: int, low: int, high: int, exponent: float, seed: int) -> np.ndarray:
    """Long-tailed class sizes: quantiles of a power-law density n^-exponent on [low, high], shuffled."""
    q = (np.arange(n_classes) + 0.5) / n_classes
    if abs(exponent - 1.0) < 1e-9:
        sizes = low * (high / low) ** q
    else:
        e = 1.0 - exponent
        sizes = (low**e + q * (high**e - low**e)) ** (1.0 / e)
    sizes = np.clip(np.round(sizes), low, high).astype(np.int64)
    return _rng(seed, _S_TRAIN_POP, 2).permutation(sizes)


# ------------------------------------------------------------------------------------------------- conditions


def _level(nz: dict, level: float) -> dict:
    """Nuisance strengths scaled to `level` (probabilities capped at 1, the quality floor lowered)."""
    out = {k: v * level for k, v in nz.items()}
    for key in ("jpeg_prob", "lowres_prob", "occlusion_prob", "sunglasses_prob"):
        out[key] = min(1.0, out[key])
    out["jpeg_quality_min"] = max(5.0, 100.0 - (100.0 - nz["jpeg_quality_min"]) * level)
    return out


def _condition(rng: np.random.Generator, nz: dict) -> dict:
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


def _jitter(base: dict, rng: np.random.Generator, nz: dict) -> dict:
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


# ------------------------------------------------------------------------------------------------- rendering


def _palette(table: np.ndarray, t: float) -> np.ndarray:
    pos = float(np.clip(t, 0.0, 1.0)) * (len(table) - 1)
    i = min(int(pos), len(table) - 2)
    return table[i] + (pos - i) * (table[i + 1] - table[i])


def _colour(c: np.ndarray) -> tuple[float, float, float]:
    c = np.clip(c, 0, 255)
    return float(c[0]), float(c[1]), float(c[2])


def _appearance(latent: np.ndarray, age_shift: float) -> dict:
    """Physical appearance (geometry in face units, colours in RGB) of one image of an identity."""
    v = dict(zip(_NAMES, (_LOW + _SPAN * ndtr(latent)).tolist()))
    age = float(np.clip(v["age"] + age_shift, 0.0, 1.0))
    v["age"] = age
    skin = _palette(_SKIN, v["skin_tone"]) + v["skin_hue"] * np.array([6.0, 0.0, -8.0])
    v["skin"] = skin * (1.0 - 0.1 * age) + np.array([4.0, 2.0, -6.0]) * age
    hair = _palette(_HAIR, v["hair_color"])
    grey = float(np.clip((age - 0.45) / 0.4, 0.0, 1.0))
    v["hair"] = hair + grey * (_GREY_HAIR - hair)
    v["brow"] = v["hair"] * (1.1 - 0.55 * v["brow_dark"]) + 0.2 * (1 - v["brow_dark"]) * skin
    v["iris_rgb"] = _palette(_IRIS, v["iris"])
    v["lip"] = v["skin"] * 0.62 + np.array([178.0, 62.0, 72.0]) * (0.12 + 0.28 * v["lip_red"])
    v["frame"] = _FRAMES[min(int(v["glasses_color"] * len(_FRAMES)), len(_FRAMES) - 1)]
    v["hairline"] += 12.0 * max(0.0, age - 0.5) * (v["beard"] > 0.5)
    v["wrinkles"] = float(np.clip((age - 0.3) / 0.5, 0.0, 1.0))
    return v


class _Painter:
    """Draws face-unit geometry onto an image through head pose (yaw, pitch) and a similarity a*z + b."""

    def __init__(self, img: np.ndarray, face_hw: float, yaw: float, pitch: float) -> None:
        self.img = img
        self.depth = face_hw * 1.05
        self.cy, self.sy = math.cos(yaw), math.sin(yaw)
        self.cp, self.sp = math.cos(pitch), math.sin(pitch)
        self.a, self.b = 1.0 + 0j, 0j
        self.centre_y = 62.0

    def surface(self, x: np.ndarray, y: np.ndarray, lift: float | np.ndarray = 0.0) -> np.ndarray:
        """Project points on the face surface (depth from a round head, plus `lift`) to posed face units."""
        z = self.depth * np.sqrt(np.maximum(1.0 - (x / self.depth) ** 2, 0.0)) + lift
        return (x * self.cy + z * self.sy) + 1j * (self.centre_y + (y - self.centre_y) * self.cp + 0.6 * z * self.sp)

    def silhouette(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Posed face units of silhouette points (the head outline barely moves with pose)."""
        return x * math.sqrt(self.cy**2 + 0.8 * self.sy**2) + 1j * (self.centre_y + (y - self.centre_y) * self.cp)

    def pixels(self, z: np.ndarray) -> np.ndarray:
        """Posed face units (complex) to output pixels (complex)."""
        return self.a * z + self.b

    def _pts(self, z: np.ndarray) -> list[np.ndarray]:
        p = self.pixels(np.asarray(z)) * 16.0
        return [np.stack([p.real, p.imag], axis=-1).round().astype(np.int32).reshape(-1, 1, 2)]

    def fill(self, z: np.ndarray, colour: np.ndarray, alpha: float = 1.0) -> None:
        """Fill the polygon `z` (posed face units), blended with `alpha`."""
        if alpha >= 0.999:
            cv2.fillPoly(self.img, self._pts(z), _colour(colour), cv2.LINE_AA, 4)
            return
        layer = self.img.copy()
        cv2.fillPoly(layer, self._pts(z), _colour(colour), cv2.LINE_AA, 4)
        self.img[:] = blend(layer, self.img, alpha)

    def line(self, z: np.ndarray, colour: np.ndarray, width: float, closed: bool = False) -> None:
        """Draw the polyline `z` (posed face units) `width` face units wide."""
        thickness = max(1, int(round(width * abs(self.a))))
        cv2.polylines(self.img, self._pts(z), closed, _colour(colour), thickness, cv2.LINE_AA, 4)


def _ellipse(cx: float, cy: float, rx: float, ry: float, tilt: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    pts = (_CIRCLE.real * rx + 1j * _CIRCLE.imag * ry) * np.exp(1j * tilt)
    return cx + pts.real, cy + pts.imag


def _landmarks(v: dict, cond: dict, painter: _Painter) -> np.ndarray:
    """The 5 landmarks (left eye, right eye, nose tip, left/right mouth corner) in posed face units."""
    mouth_hw = v["mouth_hw"] * (1.0 + 0.1 * cond["smile"])
    corner_y = v["mouth_y"] - 2.5 * cond["smile"]
    x = np.array([-v["eye_dx"], v["eye_dx"], 0.0, -mouth_hw, mouth_hw])
    y = np.array([v["eye_y"], v["eye_y"], v["nose_y"], corner_y, corner_y])
    lift = np.array([0.0, 0.0, 0.45 * v["nose_len"], 1.5, 1.5])
    return painter.surface(x, y, lift)


def _outline(v: dict, n: int = 36) -> tuple[np.ndarray, np.ndarray]:
    """Head outline (unposed face units), clockwise from the right cheek."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    s = np.sin(t)
    y0, ry = 0.5 * (v["face_top"] + v["chin_y"]), 0.5 * (v["chin_y"] - v["face_top"])
    shape = np.where(s > 0, 1.0 - (1.0 - v["jaw"]) * s**2, 1.0 - (1.0 - v["cheek"]) * s**2)
    return v["face_hw"] * np.cos(t) * shape, y0 + ry * s


def _draw_scene(p: _Painter, v: dict, cond: dict, rng: np.random.Generator) -> None:
    """Background, body, hair, face and features, accessories and occluder, in drawing order."""
    img, hw = p.img, v["face_hw"]
    h, w = img.shape[:2]
    small = np.empty((24, 24, 3), np.uint8)  # blurred clutter, drawn small and enlarged (cheap bokeh)
    small[:] = cond["background"]
    for _ in range(3):
        centre = (int(rng.uniform(0, 24)), int(rng.uniform(0, 24)))
        axes = (int(rng.uniform(2, 12)), int(rng.uniform(2, 12)))
        cv2.ellipse(small, centre, axes, rng.uniform(0, 180), 0, 360, _colour(rng.uniform(0, 255, 3)), -1)
    cv2.resize(cv2.GaussianBlur(small, (0, 0), 0.8), (w, h), dst=img, interpolation=cv2.INTER_LINEAR)

    skin, hair = v["skin"], v["hair"]
    style = min(int(v["hair_style"] * 7), 6)  # bald, buzz, short, long, fringe, swept, curly
    volume = v["hair_volume"] * (2.0 if style == 6 else 1.0)
    ox, oy = _outline(v)
    back = -0.5 * hw * p.sy
    if style == 3:  # long hair behind the head and neck
        hx = np.array([-hw - volume, hw + volume, hw + volume + 6, -hw - volume - 6])
        hy = np.array([v["face_top"] + 15, v["face_top"] + 15, v["chin_y"] + 28, v["chin_y"] + 28])
        p.fill(p.silhouette(hx, hy) + back, hair)
    nx = np.array([-0.5 * hw, 0.5 * hw, 0.55 * hw, -0.55 * hw])
    ny = np.array([v["chin_y"] - 25, v["chin_y"] - 25, 230.0, 230.0])
    p.fill(p.silhouette(nx, ny), skin * 0.8)
    sx = np.array([-0.6 * hw, 0.6 * hw, 2.8 * hw, 2.8 * hw, -2.8 * hw, -2.8 * hw])
    sy = np.array([v["chin_y"] + 12, v["chin_y"] + 12, v["chin_y"] + 40, 260.0, 260.0, v["chin_y"] + 40])
    p.fill(p.silhouette(sx, sy), cond["clothes"])
    if style >= 2:  # hair cap behind the face
        up = oy < 0.5 * (v["face_top"] + v["chin_y"]) + 6
        cap = p.silhouette(ox * (1 + volume / hw), oy - volume * (oy < 60))
        p.fill(cap[up] if up.sum() > 2 else cap, hair)

    ear_y, ear = v["eye_y"] + 10.0, v["ear_size"]
    side = math.copysign(1.0, -p.sy) if abs(p.sy) > 0.25 else 0.0
    if side == 0.0:  # frontal: both ears peek out behind the cheeks
        for sgn in (-1.0, 1.0):
            ex, ey = _ellipse(sgn * (hw * 0.97 + 2.0 * ear), ear_y, 4.5 * ear, 9.0 * ear)
            p.fill(p.silhouette(ex, ey), skin * 0.9)
    chin = np.clip((oy - oy.mean()) / (v["chin_y"] - oy.mean()), 0.0, 1.0) ** 4  # the chin turns with the head
    p.fill(p.silhouette(ox, oy) + 0.35 * hw * p.sy * chin, skin)
    if side != 0.0:  # turned head: the trailing ear lies on the side of the head
        ex, ey = _ellipse(side * hw * 0.98, ear_y, 4.0 * ear, 9.0 * ear)
        z = ex * p.cy + 1j * (p.centre_y + (ey - p.centre_y) * p.cp)
        p.fill(z, skin * 0.88)
        p.line(z, skin * 0.7, 0.8, closed=True)

    _draw_marks(p, v)
    _draw_eyes(p, v, cond)
    _draw_brows(p, v, cond)
    _draw_nose(p, v)
    _draw_beard(p, v, ox, oy)
    _draw_mouth(p, v, cond)
    if style != 0:
        _draw_front_hair(p, v, style, volume, ox, oy)
    if v["glasses"] > 0.82 or cond["sunglasses"]:
        _draw_glasses(p, v, cond)
    if cond["occlusion"]:
        _draw_occluder(p, v, cond, rng)


def _draw_marks(p: _Painter, v: dict) -> None:
    skin, hw = v["skin"], v["face_hw"]
    if v["blush"] > 0.5:
        for sgn in (-1.0, 1.0):
            bx, by = _ellipse(sgn * v["eye_dx"] * 1.1, v["nose_y"] + 2.0, 6.0, 4.0)
            p.fill(p.surface(bx, by), np.array([220.0, 90.0, 90.0]), alpha=0.35 * (v["blush"] - 0.5))
    if v["mole"] > 0.7:
        mx, my = _ellipse(v["mole_x"] * hw * 0.6, v["nose_y"] - 6.0 + 16.0 * v["mole_y"], 1.1, 1.1)
        p.fill(p.surface(mx, my), skin * 0.45)
    wr = v["wrinkles"]
    if wr > 0:
        line_colour = skin * (1.0 - 0.3 * wr)
        for k in range(3):
            y = v["hairline"] + 5.0 + 4.0 * k
            if y < v["eye_y"] - v["brow_gap"] - 5:
                x = np.linspace(-0.45 * hw, 0.45 * hw, 7)
                p.line(p.surface(x, y - 1.5 * np.cos(x / hw * 3.0)), line_colour, 0.8)
        for sgn in (-1.0, 1.0):
            x = sgn * np.array([0.55 * v["nose_w"] + 1, 0.6 * v["mouth_hw"] + 3, v["mouth_hw"] + 3])
            y = np.array([v["nose_y"] - 1.0, v["nose_y"] + 8.0, v["mouth_y"] + 4.0])
            p.line(p.surface(x, y), line_colour, 0.9)


def _draw_eyes(p: _Painter, v: dict, cond: dict) -> None:
    t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    open_ = cond["eye_open"]
    eh_up, eh_low = v["eye_h"] * open_, 0.7 * v["eye_h"] * open_
    for sgn in (-1.0, 1.0):
        ex, ey = sgn * v["eye_dx"], v["eye_y"]
        tilt = -sgn * v["eye_tilt"]
        dx, dy = v["eye_w"] * np.cos(t), np.where(np.sin(t) < 0, eh_up, eh_low) * np.sin(t)
        rot = (dx + 1j * dy) * np.exp(1j * tilt)
        p.fill(p.surface(ex + rot.real, ey + rot.imag), np.array([228.0, 222.0, 215.0]))
        radius = min(0.9 * v["eye_w"], 1.3 * v["eye_h"] * v["iris_size"])
        ix, iy = _ellipse(ex + cond["gaze"] * v["eye_w"] * 0.5, ey, radius, radius)
        iy = np.clip(iy, ey - eh_up * 0.95, ey + eh_low * 0.95)
        p.fill(p.surface(ix, iy), v["iris_rgb"])
        px, py = _ellipse(ex + cond["gaze"] * v["eye_w"] * 0.5, ey, 0.42 * radius, 0.42 * radius)
        p.fill(p.surface(px, np.clip(py, ey - eh_up, ey + eh_low)), np.array([15.0, 12.0, 12.0]))
        upper = np.sin(t) <= 0
        p.line(p.surface(ex + rot.real[upper], ey + rot.imag[upper]), v["skin"] * 0.35, 0.9)


def _draw_brows(p: _Painter, v: dict, cond: dict) -> None:
    t = np.linspace(0.0, 1.0, 8)
    base_y = v["eye_y"] - v["brow_gap"] - 3.0 * cond["brow_raise"]
    for sgn in (-1.0, 1.0):
        x = sgn * (v["eye_dx"] - 0.45 * v["brow_len"] + v["brow_len"] * t)
        y = base_y - v["brow_arch"] * np.sin(np.pi * t) - v["brow_slant"] * (t - 0.5) * v["brow_len"]
        half = 0.5 * v["brow_thick"] * (1.0 - 0.5 * t)
        p.fill(p.surface(np.concatenate([x, x[::-1]]), np.concatenate([y - half, (y + half)[::-1]])), v["brow"])


def _draw_nose(p: _Painter, v: dict) -> None:
    skin, ny, nw, nl = v["skin"], v["nose_y"], v["nose_w"], v["nose_len"]
    tip = 0.45 * nl
    s = -1.0 if p.sy >= 0 else 1.0
    t = np.linspace(0.0, 1.0, 6)
    p.line(p.surface(s * (1.0 + 0.8 * t), ny - nl + (nl - 3.0) * t, tip * t), skin * 0.78, 1.2)
    for sgn in (-1.0, 1.0):
        wx = sgn * np.array([0.3 * nw, 0.5 * nw, 0.45 * nw, 0.25 * nw])
        wy = ny + np.array([-3.0, -0.5, 2.0, 2.5])
        p.line(p.surface(wx, wy, 0.3 * tip), skin * 0.7, 1.0)
        nx, nyy = _ellipse(sgn * 0.28 * nw, ny + 1.8, 1.7, 1.0)
        p.fill(p.surface(nx, nyy, 0.35 * tip), skin * 0.4)
    hx, hy = _ellipse(0.0, ny - 1.5, 1.6, 1.4)
    p.fill(p.surface(hx, hy, tip), skin * 1.1 + 8.0)


def _draw_mouth(p: _Painter, v: dict, cond: dict) -> None:
    smile, open_ = cond["smile"], 5.0 * cond["open"]
    hw = v["mouth_hw"] * (1.0 + 0.1 * smile)
    x = np.linspace(-hw, hw, 11)
    r = np.sqrt(np.clip(1.0 - (x / hw) ** 2, 0.0, 1.0)) ** 0.6
    mid = v["mouth_y"] - 2.5 * smile * (x / hw) ** 2
    upper = mid - v["lip_up"] * r * (1.0 - 0.35 * np.exp(-((x / 2.5) ** 2)))
    lower = mid + open_ * r + v["lip_low"] * r
    if open_ > 0.4:
        p.fill(p.surface(np.concatenate([x, x[::-1]]), np.concatenate([mid, (mid + open_ * r)[::-1]]), 1.5),
               np.array([70.0, 25.0, 30.0]))
        if smile > 0.3:
            xi, top, teeth = x[2:-2], mid[2:-2], (mid + 0.45 * open_ * r)[2:-2]
            band = p.surface(np.concatenate([xi, xi[::-1]]), np.concatenate([top, teeth[::-1]]), 1.5)
            p.fill(band, np.array([235.0, 230.0, 215.0]))
    p.fill(p.surface(np.concatenate([x, x[::-1]]), np.concatenate([upper, mid[::-1]]), 1.5), v["lip"] * 0.92)
    p.fill(p.surface(np.concatenate([x, x[::-1]]), np.concatenate([mid + open_ * r, lower[::-1]]), 1.5), v["lip"])
    p.line(p.surface(x, mid + (open_ * r if open_ > 0.4 else 0.0), 1.5), v["lip"] * 0.6, 0.7)


def _draw_beard(p: _Painter, v: dict, ox: np.ndarray, oy: np.ndarray) -> None:
    kind = v["beard"]
    if kind < 0.62:
        return
    colour, density = v["hair"] * 0.9, v["beard_density"]
    mx = np.linspace(-(v["mouth_hw"] + 2.0), v["mouth_hw"] + 2.0, 7)
    top = v["nose_y"] + 4.0
    moustache_x = np.concatenate([mx, mx[::-1]])
    moustache_y = np.concatenate([np.full(7, top), np.full(7, v["mouth_y"] - 0.5 * v["lip_up"])])
    if kind < 0.72:  # moustache
        p.fill(p.surface(moustache_x, moustache_y, 1.0), colour, alpha=density)
    elif kind < 0.8:  # goatee
        p.fill(p.surface(moustache_x, moustache_y, 1.0), colour, alpha=density)
        height = 0.5 * (v["chin_y"] - v["mouth_y"])
        gx, gy = _ellipse(0.0, v["mouth_y"] + height + 3.0, 0.6 * v["mouth_hw"], height)
        p.fill(p.surface(gx, gy, 1.0), colour, alpha=density)
    else:  # full beard (dense) or stubble (faint)
        low = oy > v["nose_y"] + 2.0
        jaw = p.silhouette(ox[low], oy[low]) + 0.35 * v["face_hw"] * p.sy * 0.5
        x = np.linspace(-v["face_hw"] * 0.85, v["face_hw"] * 0.85, 7)
        across = p.surface(x, top + 10.0 * (x / v["face_hw"]) ** 2, 1.0)
        alpha = density if kind < 0.92 else 0.3 * density
        p.fill(np.concatenate([jaw, across]), colour, alpha=alpha)


def _draw_front_hair(p: _Painter, v: dict, style: int, volume: float, ox: np.ndarray, oy: np.ndarray) -> None:
    hw, hair = v["face_hw"], v["hair"]
    line_y = v["hairline"] + (10.0 if style == 4 else 0.0)
    x = np.linspace(-hw * 0.92, hw * 0.92, 13)
    curve = line_y + 4.0 * (x / hw) ** 2 * (style != 4)
    if style == 5:
        curve = curve + 6.0 * v["hair_part"] * (x / hw)
    front = p.surface(x, np.minimum(curve, v["eye_y"] - v["brow_gap"] - 4.0))
    upper = oy < line_y
    order = np.argsort(-ox[upper])  # right to left across the top
    top = p.silhouette((ox[upper] * (1 + volume / hw))[order], (oy[upper] - volume)[order])
    p.fill(np.concatenate([front, top]), hair, alpha=0.45 if style == 1 else 1.0)


def _draw_glasses(p: _Painter, v: dict, cond: dict) -> None:
    t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    power = 2.0 + 6.0 * v["glasses_shape"]
    c, s = np.cos(t), np.sin(t)
    sx = np.sign(c) * np.abs(c) ** (2.0 / power)
    sy = np.sign(s) * np.abs(s) ** (2.0 / power)
    a = 1.7 * v["eye_w"] * v["glasses_size"]
    b = (2.4 * v["eye_h"] + 2.5) * v["glasses_size"]
    lens = cond["sunglasses"] or v["glasses"] > 0.97
    frame = v["frame"] if v["glasses"] > 0.82 else np.array([20.0, 20.0, 20.0])
    inner = []
    for sgn in (-1.0, 1.0):
        ex = sgn * v["eye_dx"]
        ring = p.surface(ex + a * sx, v["eye_y"] + 1.0 + b * sy, 3.0)
        if lens:
            p.fill(ring, np.array([25.0, 25.0, 32.0]), alpha=0.9 if cond["sunglasses"] else 0.5)
        p.line(ring, frame, 1.2, closed=True)
        inner.append(p.surface(np.array([ex - sgn * a]), np.array([v["eye_y"]]), 3.0)[0])
        temple_x = np.array([ex + sgn * a, sgn * v["face_hw"]])
        p.line(p.surface(temple_x, np.array([v["eye_y"], v["eye_y"] + 1.0]), np.array([3.0, 0.0])), frame, 1.0)
    p.line(np.array(inner), frame, 1.2)


def _draw_occluder(p: _Painter, v: dict, cond: dict, rng: np.random.Generator) -> None:
    kind, hw = cond["occlusion"], v["face_hw"]
    colour = rng.uniform(0, 255, 3)
    if kind == 1:  # bar across the face
        angle = rng.uniform(0, np.pi)
        centre = rng.uniform(-15, 15) + 1j * rng.uniform(45, 95)
        ends = centre + np.array([-1.0, 1.0]) * 90.0 * np.exp(1j * angle)
        p.line(ends, colour, rng.uniform(6.0, 14.0))
    elif kind == 2:  # rectangular patch
        cx, cy = rng.uniform(-25, 25), rng.uniform(40, 100)
        sx, sy = rng.uniform(10, 22), rng.uniform(10, 22)
        p.fill(cx + 1j * cy + np.array([-sx - 1j * sy, sx - 1j * sy, sx + 1j * sy, -sx + 1j * sy]), colour)
    elif kind == 3:  # hand-like blob in skin colour
        centre_x, centre_y = rng.uniform(-25, 25), rng.uniform(60, 105)
        hx, hy = _ellipse(centre_x, centre_y, rng.uniform(10, 16), rng.uniform(16, 24), rng.uniform(-1, 1))
        p.fill(hx + 1j * hy, v["skin"] * rng.uniform(0.8, 1.1))
    elif kind == 4:  # scarf / mask over the lower face
        top = v["nose_y"] + rng.uniform(-4, 8)
        p.fill(p.silhouette(np.array([-hw - 4, hw + 4, hw + 8, -hw - 8]), np.array([top, top, 150.0, 150.0])), colour)
    else:  # hat over the forehead
        brim = v["eye_y"] - v["brow_gap"] - rng.uniform(0, 8)
        hat_x = np.array([-hw - 12, hw + 12, hw + 5, -hw - 5])
        p.fill(p.silhouette(hat_x, np.array([brim, brim, -30.0, -30.0])), colour)


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[complex, complex]:
    """The alignment's least-squares similarity from complex points src onto dst, as dst ~ a * src + b."""
    matrix = similarity_transform(np.stack([src.real, src.imag], axis=1), np.stack([dst.real, dst.imag], axis=1))
    return complex(matrix[0, 0], matrix[1, 0]), complex(matrix[0, 2], matrix[1, 2])


def _finish(img: np.ndarray, cond: dict, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Illumination, low resolution, blur, noise and JPEG artefacts (vectorised over the whole image)."""
    h, w = img.shape[:2]
    gx, gy = math.cos(cond["light_dir"]), math.sin(cond["light_dir"])
    ramp = np.linspace(-gx, gx, w, dtype=np.float32)[None, :] + np.linspace(-gy, gy, h, dtype=np.float32)[:, None]
    gain = (cond["brightness"] * (1.0 + cond["light"] * ramp))[:, :, None] * cond["tint"].astype(np.float32)
    out = np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** cond["gamma"], 0, 255).astype(np.uint8)
    out = cv2.LUT(out, lut)
    if cond["lowres"] > 1.0:
        small = (max(8, int(w / cond["lowres"])), max(8, int(h / cond["lowres"])))
        out = cv2.resize(cv2.resize(out, small, interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR)
    sigma = cond["blur"] * scale
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if cond["motion"] * scale > 0.5:
        length = int(2 * cond["motion"] * scale) + 1
        out = correlate(out, motion_kernel(length, rng.uniform(0, 180)))
    if cond["noise"] > 0.5:
        noisy = out.astype(np.float32) + rng.standard_normal(out.shape, dtype=np.float32) * cond["noise"]
        out = np.clip(noisy, 0, 255).astype(np.uint8)
    if cond["jpeg"]:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, cond["jpeg"]])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def _faceness(cond: dict, nz_blur: float) -> float:
    """Detector-like confidence: high for clear frontal faces, lower with yaw, occlusion, blur and low resolution."""
    score = 0.995 - 0.25 * (abs(cond["yaw"]) / 1.3) ** 2 - 0.2 * (cond["occlusion"] > 0)
    score -= 0.05 * cond["blur"] / max(nz_blur, 1e-6) + 0.05 * (cond["lowres"] > 1.0) + 0.1 * cond["sunglasses"]
    return float(np.clip(score, 0.05, 1.0))


def _render(
    latent: np.ndarray, cond: dict, rng: np.random.Generator, crop: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Render an identity's image: aligned 112x112 (crop None) or a loose (h, w) crop; RGB uint8, landmarks [5, 2]."""
    v = _appearance(latent, cond["age"])
    if crop is None:
        h = w = 112
    else:
        h, w = crop
    img = np.empty((h, w, 3), np.uint8)
    painter = _Painter(img, v["face_hw"], cond["yaw"], cond["pitch"])
    marks = _landmarks(v, cond, painter)
    if crop is None:  # align like a pipeline would: similarity from noisy detected landmarks onto the template
        detected = marks + cond["landmark_noise"][:, 0] + 1j * cond["landmark_noise"][:, 1]
        painter.a, painter.b = _similarity(detected, TEMPLATE_112[:, 0] + 1j * TEMPLATE_112[:, 1])
    else:
        scale = min(h, w) * rng.uniform(0.5, 0.72) / 100.0
        centre = w * rng.uniform(0.4, 0.6) + 1j * h * rng.uniform(0.4, 0.6)
        painter.a = scale * np.exp(1j * cond["roll"])
        painter.b = centre - painter.a * (0.0 + 62.0j)
    _draw_scene(painter, v, cond, rng)
    img = _finish(img, cond, abs(painter.a), rng)
    px = painter.pixels(marks)
    return img, np.stack([px.real, px.imag], axis=1).astype(np.float32)


def _image_latent(latent: np.ndarray, rng: np.random.Generator, jitter: float) -> np.ndarray:
    return latent + jitter * rng.standard_normal(latent.shape)


# ------------------------------------------------------------------------------------------------- benchmark API


def generate_images(cfg: dict | None, n: int, rng_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Render n aligned training-style images (uint8 [n, 112, 112, 3]) and their landmarks (float32 [n, 5, 2])."""
    cfg = resolve_config(cfg)
    latents, _ = population(cfg, "train")
    nz = _level(cfg["nuisance"], cfg["train"]["nuisance"])
    images = np.empty((n, 112, 112, 3), np.uint8)
    marks = np.empty((n, 5, 2), np.float32)
    for i in range(n):
        rng = _rng(rng_seed, _S_BENCH, i)
        latent = _image_latent(latents[i % len(latents)], rng, cfg["population"]["appearance_jitter"])
        images[i], marks[i] = _render(latent, _condition(rng, nz), rng)
    return images, marks


# ------------------------------------------------------------------------------------------------- writers


def _train_samples(cfg: dict, latents: np.ndarray, sizes: np.ndarray) -> Iterator[tuple[int, bytes]]:
    nz = _level(cfg["nuisance"], cfg["train"]["nuisance"])
    jitter, seed = cfg["population"]["appearance_jitter"], cfg["seed"]
    for class_id, size in enumerate(sizes.tolist()):
        for k in range(size):
            rng = _rng(seed, _S_TRAIN_IMG, class_id, k)
            img, _ = _render(_image_latent(latents[class_id], rng, jitter), _condition(rng, nz), rng)
            yield class_id, encode_image(img, ".jpg", cfg["jpeg_quality"])


def _val_condition(cfg: dict, name: str, role: int, rng: np.random.Generator, nz: dict, age_base: tuple) -> dict:
    """One verification image's condition in its set's flavour: role 0 frontal / moderate pose / younger, role 1
    profile / wide pose / older (`age_base`: the identity's younger age and age gap in this set)."""
    cond = _condition(rng, nz)
    rad = math.pi / 180.0
    low, high = cfg["val"]["profile_yaw_deg"]
    if name in ("cfp_fp", "vgg2_fp"):  # frontal vs strong yaw (VGG2-FP: VGGFace2's frontal-profile pairs)
        cond["yaw"] = (rng.choice([-1.0, 1.0]) * rng.uniform(low, high) if role else rng.normal(0.0, 4.0)) * rad
    elif name == "cplfw":  # cross-pose: a moderate pose against a wide one
        wide = rng.choice([-1.0, 1.0]) * rng.uniform(0.8 * low, high)
        cond["yaw"] = (wide if role else rng.uniform(-0.5, 0.5) * low) * rad
    elif name in ("agedb_30", "calfw"):  # appearance drift: role-1 images are older by the identity's age gap
        young, gap = age_base
        cond["age"] = young + gap * role + rng.normal(0.0, 0.03)
    return cond


def _write_val(cfg: dict, out_root: Path, latents: np.ndarray, families: np.ndarray) -> dict:
    nz = _level(cfg["nuisance"], cfg["val"]["nuisance"])
    jitter, seed = cfg["population"]["appearance_jitter"], cfg["seed"]
    counts = {}
    for set_index, name in enumerate(BENCHMARKS):
        plan = val_pair_plan(cfg, name, families)
        encoded = []
        for i, (identity, role) in enumerate(zip(plan.identity.tolist(), plan.role.tolist())):
            age_rng = _rng(seed, _S_VAL_PLAN, set_index, 1, identity)
            age_base = (age_rng.uniform(-0.3, 0.0), age_rng.uniform(*cfg["val"]["age_gap"]))
            rng = _rng(seed, _S_VAL_IMG, set_index, i)
            cond = _val_condition(cfg, name, role, rng, nz, age_base)
            img, _ = _render(_image_latent(latents[identity], rng, jitter), cond, rng)
            encoded.append(encode_image(img, ".jpg", cfg["jpeg_quality"]))
        write_bin(out_root / "val" / f"{name}.bin", [encoded[i] for i in plan.pairs.ravel().tolist()],
                  plan.issame.tolist())
        counts[name] = {"pairs": len(plan.issame), "genuine": int(plan.issame.sum()),
                        "identities": len(np.unique(plan.identity)), "images": len(encoded)}
    return counts


def ijb_plan(cfg: dict, suite: str, n_identities: int) -> dict:
    """Subjects, templates, media and images of an IJB-style suite, and its template pairs [M, 3]."""
    s = cfg[suite.lower()]
    suite_index = IJB_SUITES.index(suite)
    rng = _rng(cfg["seed"], _S_IJB_PLAN, suite_index)
    subjects = rng.choice(n_identities, size=s["subjects"], replace=False)
    image_subject, image_template, image_media = [], [], []
    template_subject = []
    media_id = 0
    for subject in subjects.tolist():
        for _ in range(int(rng.integers(s["templates"][0], s["templates"][1] + 1))):
            template_subject.append(subject)
            for _ in range(int(rng.integers(s["media"][0], s["media"][1] + 1))):
                media_id += 1
                video = rng.random() < s["video_prob"]
                frames = int(rng.integers(s["frames"][0], s["frames"][1] + 1)) if video else 1
                image_subject += [subject] * frames
                image_template += [len(template_subject)] * frames
                image_media += [media_id] * frames
    template_subject = np.array(template_subject)
    t1, t2 = np.triu_indices(len(template_subject), k=1)
    genuine = template_subject[t1] == template_subject[t2]
    impostor = np.flatnonzero(~genuine)
    if len(impostor) > s["impostor_pairs"]:
        impostor = np.sort(rng.choice(impostor, size=s["impostor_pairs"], replace=False))
    keep = np.sort(np.concatenate([np.flatnonzero(genuine), impostor]))
    pairs = np.stack([t1[keep] + 1, t2[keep] + 1, genuine[keep].astype(np.int64)], axis=1)
    return {
        "subjects": np.array(image_subject, np.int64),
        "template_ids": np.array(image_template, np.int64),
        "media_ids": np.array(image_media, np.int64),
        "pairs": pairs,
    }


def _write_ijb(cfg: dict, out_root: Path, suite: str, latents: np.ndarray) -> dict:
    s = cfg[suite.lower()]
    suite_index = IJB_SUITES.index(suite)
    plan = ijb_plan(cfg, suite, len(latents))
    nz = _level(cfg["nuisance"], s["nuisance"])
    jitter, seed = cfg["population"]["appearance_jitter"], cfg["seed"]
    root = out_root / suite
    crops_dir = root / "loose_crop"
    if crops_dir.exists():
        shutil.rmtree(crops_dir)  # a previous generation may have written more images
    names, landmarks, faceness = [], [], []
    media_cond: dict[int, dict] = {}
    for n, (subject, media) in enumerate(zip(plan["subjects"].tolist(), plan["media_ids"].tolist()), start=1):
        if media not in media_cond:
            media_cond[media] = _condition(_rng(seed, _S_IJB_MEDIA, suite_index, media), nz)
        rng = _rng(seed, _S_IJB_IMG, suite_index, n)
        cond = _jitter(media_cond[media], rng, nz)
        crop = (int(rng.integers(s["crop"][0], s["crop"][1] + 1)), int(rng.integers(s["crop"][0], s["crop"][1] + 1)))
        img, marks = _render(_image_latent(latents[subject], rng, jitter), cond, rng, crop=crop)
        names.append(f"{n}.jpg")
        atomic_write_bytes(crops_dir / names[-1], encode_image(img, ".jpg", cfg["jpeg_quality"]))
        landmarks.append(marks)
        faceness.append(_faceness(cond, nz["blur"]))
    write_ijb_meta(root, suite, names, plan["template_ids"], plan["media_ids"], np.array(landmarks),
                   np.array(faceness), plan["pairs"])
    return {
        "images": len(names),
        "subjects": len(np.unique(plan["subjects"])),
        "templates": int(plan["template_ids"].max()),
        "media": int(plan["media_ids"].max()),
        "pairs": len(plan["pairs"]),
        "genuine": int(plan["pairs"][:, 2].sum()),
    }


def _size_stats(sizes: np.ndarray) -> dict:
    return {
        "min": int(sizes.min()),
        "max": int(sizes.max()),
        "mean": float(sizes.mean()),
        "median": float(np.median(sizes)),
        "top10pct_share": float(np.sort(sizes)[::-1][: max(1, len(sizes) // 10)].sum() / sizes.sum()),
    }


def generate(cfg: dict | None, out_root: Path) -> dict:
    """Write a synthetic data root (train/, val/, IJBB/, IJBC/, MANIFEST.json) and return its manifest."""
    cfg = resolve_config(cfg)
    out_root = Path(out_root)
    train_latents, train_families = population(cfg, "train")
    eval_latents, eval_families = population(cfg, "eval")
    t = cfg["train"]
    sizes = class_sizes(t["identities"], t["images_min"], t["images_max"], t["size_exponent"], cfg["seed"])
    write_face_recordio(out_root / "train", _train_samples(cfg, train_latents, sizes), t["identities"], image_size=112)
    counts: dict[str, Any] = {
        "train": {"identities": t["identities"], "families": t["families"], "images": int(sizes.sum())},
        "val": _write_val(cfg, out_root, eval_latents, eval_families),
    }
    for suite in IJB_SUITES:
        counts[suite] = _write_ijb(cfg, out_root, suite, eval_latents)
    files = sorted(p for p in out_root.rglob("*") if p.is_file() and p.name != "MANIFEST.json")
    manifest = {
        "generator": "x2softmax.data.synthetic",
        "version": GENERATOR_VERSION,
        "seed": cfg["seed"],
        "config": cfg,
        "counts": counts,
        "class_sizes": _size_stats(sizes),
        "files": {p.relative_to(out_root).as_posix(): file_sha256(p) for p in files},
    }
    atomic_write_json(out_root / "MANIFEST.json", manifest)
    return manifest
