"""The identities: appearance fields, latents of the training and evaluation populations (families of look-alikes),
long-tailed class sizes, an image's jittered latent, and the RNG streams every draw is seeded from."""

from __future__ import annotations

import math

import numpy as np

# RNG streams: every random draw is seeded from (seed, stream, ...) so output never depends on generation order
# (stream 10 is plan.S_VAL_PLAN, the verification sets' pair plans and their identities' ages).
S_TRAIN_POP, S_EVAL_POP, S_TRAIN_IMG, S_VAL_IMG = 1, 2, 3, 20
S_IJB_PLAN, S_IJB_MEDIA, S_IJB_IMG, S_BENCH = 30, 40, 50, 60
S_IJB_1N = 70  # the IJB 1:N gallery split: its own stream, so every file written before it stays byte-identical

# Identity appearance: name, low, high. An identity's value is low + (high - low) * Phi(latent).
# Geometry is in "face units": pixels of the 112x112 ArcFace frame, x relative to the face's vertical axis (x = 56).
FIELDS = (
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
N_FIELDS = len(FIELDS)


def stream_rng(seed: int, *keys: int) -> np.random.Generator:
    """The generator of one draw's keys (seed, stream, ...): independent of the order of generation."""
    return np.random.default_rng([seed, *keys])


def population(cfg: dict, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Identity latents float64 [N, N_FIELDS] and family index [N] of the 'train' or 'eval' population; a training
    population keeps round(train.lookalike_share x families) families, the others' members stand alone."""
    if split not in ("train", "eval"):
        raise ValueError(f"population: split must be 'train' or 'eval', got {split!r}")
    stream = S_TRAIN_POP if split == "train" else S_EVAL_POP
    n, n_families = cfg[split]["identities"], cfg[split]["families"]
    pop, seed = cfg["population"], cfg["seed"]
    low, high = np.log(pop["family_tightness"])
    prototypes = np.empty((n_families, N_FIELDS))
    spreads = np.empty(n_families)
    for f in range(n_families):
        rng = stream_rng(seed, stream, 0, f)
        prototypes[f] = rng.standard_normal(N_FIELDS)
        spreads[f] = pop["identity_spread"] * math.exp(rng.uniform(low, high))
    families = np.arange(n) % n_families
    latents = np.stack([stream_rng(seed, stream, 1, i).standard_normal(N_FIELDS) for i in range(n)])
    identities = prototypes[families] + spreads[families, None] * latents
    kept = n_families if split == "eval" else round(cfg["train"]["lookalike_share"] * n_families)
    alone = np.flatnonzero(families >= kept)  # members of the dissolved families: unrelated identities
    if len(alone):  # their own prototypes come from a stream of their own: the kept families' draws do not move
        own = np.stack([stream_rng(seed, stream, 3, int(i)).standard_normal(N_FIELDS) for i in alone])
        identities[alone] = own + spreads[families[alone], None] * latents[alone]
        families = families.copy()
        families[alone] = n_families + np.arange(len(alone))  # each one a family of its own
    return identities, families


def class_sizes(n_classes: int, low: int, high: int, exponent: float, seed: int) -> np.ndarray:
    """Long-tailed class sizes: quantiles of a power-law density n^-exponent on [low, high], shuffled."""
    q = (np.arange(n_classes) + 0.5) / n_classes
    if abs(exponent - 1.0) < 1e-9:
        sizes = low * (high / low) ** q
    else:
        e = 1.0 - exponent
        sizes = (low**e + q * (high**e - low**e)) ** (1.0 / e)
    sizes = np.clip(np.round(sizes), low, high).astype(np.int64)
    return stream_rng(seed, S_TRAIN_POP, 2).permutation(sizes)


def image_latent(latent: np.ndarray, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """One image's latent: the identity's plus per-image appearance jitter (hair, colours, accessories)."""
    return latent + jitter * rng.standard_normal(latent.shape)
