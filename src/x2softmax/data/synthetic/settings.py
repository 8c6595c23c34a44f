"""The generator's settings: DEFAULTS (every key commented), merged with a preset's overrides and validated."""

from __future__ import annotations

import copy
import math
from typing import Any

from x2softmax.data.synthetic.plan import genuine_capacity
from x2softmax.vocabulary import BENCHMARKS, IJB_SUITES, settings_key

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
        # share of the families kept as look-alike groups (rounded to whole families); the members of the others
        # become unrelated identities, each around a prototype of its own (the same spread): 1.0 is every family
        "lookalike_share": 1.0,
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
        # share of the impostor pairs of the sets with random impostors (lfw, cfp_fp, agedb_30, vgg2_fp) drawn from
        # one family (look-alikes; plan.pair_kinds labels every pair); 0.0: every impostor pair random
        "lookalike_impostors": 0.0,
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
    need(train["lookalike_share"] <= 1, "train.lookalike_share", "must be a share in [0, 1]")
    need(train["images_min"] >= 1, "train.images_min", "must be >= 1")
    need(train["images_min"] <= train["images_max"], "train.images_max", "must be >= train.images_min")
    need(evalp["families"] >= 1, "eval.families", "must be >= 1")
    need(evalp["identities"] >= 2 * evalp["families"], "eval.identities", "need >= 2 per family (look-alike pairs)")
    pairs = val["pairs"]
    need(pairs >= 20 and pairs % 20 == 0, "val.pairs", f"must be a positive multiple of 20, got {pairs}")
    need(2 <= val["identities"] <= evalp["identities"], "val.identities", "must be in [2, eval.identities]")
    need(val["lookalike_impostors"] <= 1, "val.lookalike_impostors", "must be a share in [0, 1]")
    need(val["images"] >= 2, "val.images", f"must be >= 2, got {val['images']}")
    offered = min(genuine_capacity(name, val["images"]) for name in BENCHMARKS) * val["identities"]
    need(offered >= pairs // 2, "val.pairs",
         f"{pairs // 2} genuine pairs need more identities or images: val.identities x val.images offer {offered}")
    need(cfg["population"]["family_tightness"][0] > 0, "population.family_tightness", "must be > 0")
    need(cfg["nuisance"]["jpeg_quality_min"] <= 100, "nuisance.jpeg_quality_min", "must be <= 100")
    for suite in map(settings_key, IJB_SUITES):
        s = cfg[suite]
        need(2 <= s["subjects"] <= evalp["identities"], f"{suite}.subjects", "must be in [2, eval.identities]")
        for key in ("templates", "media", "frames"):
            need(s[key][0] >= 1, f"{suite}.{key}", "ranges must start at >= 1")
        need(s["video_prob"] <= 1, f"{suite}.video_prob", "must be a probability")
        need(s["crop"][0] >= 64, f"{suite}.crop", "crops must be at least 64 pixels")
