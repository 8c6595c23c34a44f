"""Pair plans of the synthetic verification sets: a few images per identity, each image in several pairs (as LFW).

A set draws `val.identities` evaluation identities (whole families, so that look-alike impostors exist) with
`val.images` images each. In the sets with a flavour (frontal/profile, cross-pose, cross-age) an identity's images
are split into two roles (role 0: frontal / moderate pose / younger; role 1: profile / wide pose / older) and every
pair, genuine or impostor, joins a role-0 image with a role-1 image; in a set of condition "any" (lfw) any two images
form a pair (x2softmax.vocabulary.VERIFICATION: each set's condition and impostors). Genuine pairs are drawn without
replacement from all allowed pairs of one identity, impostor pairs without repetition from images of two identities
(of one family in the "lookalike" sets, calfw / cplfw, and in a share val.lookalike_impostors of the other sets'
impostor pairs). Pairs are fold-contiguous: per fold, genuine then impostor.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from x2softmax.vocabulary import BENCHMARKS, VERIFICATION  # appended sets keep earlier streams

S_VAL_PLAN = 10  # RNG stream of the plans (seed, stream, set index)
N_FOLDS = 10


class ValPlan(NamedTuple):
    """Images (eval identity and role of each) and pairs (image indices [P, 2], issame [P]) of a set."""

    identity: np.ndarray
    role: np.ndarray
    pairs: np.ndarray
    issame: np.ndarray


def genuine_capacity(name: str, images: int) -> int:
    """Distinct genuine pairs one identity with `images` images offers in set `name`."""
    if _roles(name):
        return (images // 2) * (images - images // 2)
    return images * (images - 1) // 2


def _roles(name: str) -> bool:
    """Whether set `name`'s pairs join a role-0 and a role-1 image (every condition but "any")."""
    return VERIFICATION[name].condition != "any"


def _lookalike(name: str) -> bool:
    """Whether every impostor pair of set `name` is drawn within one family."""
    return VERIFICATION[name].impostors == "lookalike"


def _set_identities(rng: np.random.Generator, families: np.ndarray, n: int) -> np.ndarray:
    """n eval identities taken family by family (families in random order), sorted."""
    members = [np.flatnonzero(families == f) for f in rng.permutation(int(families.max()) + 1)]
    return np.sort(np.concatenate(members)[:n])


def val_pair_plan(cfg: dict, name: str, families: np.ndarray) -> ValPlan:
    """The images and fold-contiguous pairs of verification set `name` over the eval population `families`."""
    val = cfg["val"]
    n_pairs, n_ids, per_id = val["pairs"], val["identities"], val["images"]
    rng = np.random.default_rng([cfg["seed"], S_VAL_PLAN, BENCHMARKS.index(name)])
    ids = _set_identities(rng, families, n_ids)
    identity = np.repeat(ids, per_id)
    roles = _roles(name)
    role = np.tile((np.arange(per_id) >= per_id // 2).astype(np.int64), len(ids)) if roles else np.zeros_like(identity)
    first = np.arange(len(ids)) * per_id  # image index of each identity's first image
    half = n_pairs // (2 * N_FOLDS)

    # genuine: every allowed (image, image) pair of one identity, drawn without replacement
    a, b = (np.divmod(np.arange(per_id // 2 * (per_id - per_id // 2)), per_id - per_id // 2) if roles
            else np.triu_indices(per_id, k=1))
    if roles:
        b = b + per_id // 2
    local = np.stack([a, b], axis=1)
    pick = rng.choice(len(ids) * len(local), size=half * N_FOLDS, replace=False)
    genuine = first[pick // len(local), None] + local[pick % len(local)]

    # impostors: an image of identity x and one of another identity y (same family in the look-alike sets)
    slot = {int(i): k for k, i in enumerate(ids)}
    mates = [[slot[int(j)] for j in ids if families[j] == families[i] and j != i] for i in ids]
    seen: set[tuple[int, int]] = set()
    # look-alike impostors in a set with random ones: a stream of its own, drawn only when asked for (the default's
    # plans stay as they were)
    kind_rng = (np.random.default_rng([cfg["seed"], S_VAL_PLAN, BENCHMARKS.index(name), 2])
                if val["lookalike_impostors"] > 0 and not _lookalike(name) else None)
    impostor = np.empty((half * N_FOLDS, 2), np.int64)
    count, attempts = 0, 0
    while count < len(impostor):
        attempts += 1
        if attempts > 100 * len(impostor):
            raise ValueError(f"synthetic config val: too few identities or images for {len(impostor)} distinct "
                             f"impostor pairs of {name} (val.identities {n_ids}, val.images {per_id})")
        x = int(rng.integers(len(ids)))
        if _lookalike(name) or (kind_rng is not None and kind_rng.random() < val["lookalike_impostors"]):
            if not mates[x]:
                continue
            y = mates[x][int(rng.integers(len(mates[x])))]
        else:
            y = int(rng.integers(len(ids) - 1))
            y += y >= x
        lo = per_id // 2 if roles else 0
        u = first[x] + int(rng.integers(per_id // 2 if roles else per_id))
        v = first[y] + lo + int(rng.integers(per_id - lo))
        if (min(u, v), max(u, v)) in seen:
            continue
        seen.add((min(u, v), max(u, v)))
        impostor[count] = u, v
        count += 1

    pairs = np.empty((n_pairs, 2), np.int64)
    issame = np.tile(np.repeat([True, False], half), N_FOLDS)
    pairs[issame], pairs[~issame] = genuine, impostor
    swap = rng.random(n_pairs) < 0.5  # which image comes first is random
    pairs[swap] = pairs[swap, ::-1]
    return ValPlan(identity, role, pairs, issame)


def pair_kinds(plan: ValPlan, families: np.ndarray) -> np.ndarray:
    """The kind of each pair of a plan: 'genuine', 'lookalike' (an impostor pair within one family) or 'random'."""
    family = families[plan.identity[plan.pairs]]
    return np.where(plan.issame, "genuine", np.where(family[:, 0] == family[:, 1], "lookalike", "random"))
