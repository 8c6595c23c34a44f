"""Controlled worlds of the synthetic generator (issue 36): the look-alike share of the training population, look-alike
impostors in the random-impostor sets, pair kinds; the embedded default's draws pinned."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from x2softmax.data.synthetic.plan import pair_kinds, val_pair_plan
from x2softmax.data.synthetic.population import class_sizes, population
from x2softmax.data.synthetic.settings import resolve_config
from x2softmax.vocabulary import BENCHMARKS

# sha256 of the embedded default's populations, class sizes and pair plans, computed with the generator before the
# settings of the controlled worlds existed (commit 1a59faf): their defaults keep every draw.
DEFAULT_DRAWS = "21e605195791b5d45af27dd91e661337b6ad5f82f73376318cb19fcfe495f8d6"
WORLD = {"train": {"identities": 40, "families": 8}, "eval": {"identities": 40, "families": 10},
         "val": {"pairs": 400, "identities": 20, "images": 8},
         "ijbb": {"subjects": 8}, "ijbc": {"subjects": 10}}


def test_default_draws_are_unchanged() -> None:
    cfg = resolve_config({"seed": 2048, "train": {"images_max": 30}})  # the embedded default (config/config.yaml)
    h = hashlib.sha256()
    for split in ("train", "eval"):
        latents, families = population(cfg, split)
        h.update(latents.tobytes())
        h.update(families.astype(np.int64).tobytes())
    t = cfg["train"]
    h.update(class_sizes(t["identities"], t["images_min"], t["images_max"], t["size_exponent"], cfg["seed"]).tobytes())
    families = population(cfg, "eval")[1]
    for name in BENCHMARKS:
        for array in val_pair_plan(cfg, name, families):
            h.update(np.ascontiguousarray(array).tobytes())
    assert h.hexdigest() == DEFAULT_DRAWS


def _world(**train: float) -> dict:
    return resolve_config({**WORLD, "train": {**WORLD["train"], **train}})


def test_lookalike_share_dissolves_whole_families_and_keeps_the_others() -> None:
    full_latents, full_families = population(_world(), "train")
    latents, families = population(_world(lookalike_share=0.25), "train")
    kept = full_families < 2  # round(0.25 x 8) families kept
    assert np.array_equal(latents[kept], full_latents[kept]) and np.array_equal(families[kept], full_families[kept])
    alone = families[~kept]
    assert len(set(alone.tolist())) == len(alone) and alone.min() >= 8  # each a family of its own
    assert not np.allclose(latents[~kept], full_latents[~kept])
    # the same identity deviation around a prototype of its own: the distance to a former family mate grows
    mates = [(i, j) for i in range(40) for j in range(i + 1, 40)
             if full_families[i] == full_families[j] and not kept[i]]
    before = np.mean([np.linalg.norm(full_latents[i] - full_latents[j]) for i, j in mates])
    after = np.mean([np.linalg.norm(latents[i] - latents[j]) for i, j in mates])
    assert after > 1.5 * before


def test_lookalike_share_leaves_the_eval_population_and_sizes_alone() -> None:
    a, b = _world(), _world(lookalike_share=0.0)
    assert all(np.array_equal(x, y) for x, y in zip(population(a, "eval"), population(b, "eval")))
    assert population(b, "train")[1].tolist() == list(range(8, 48))


def test_lookalike_impostors_are_labelled_and_drawn_at_their_share() -> None:
    families = population(resolve_config(WORLD), "eval")[1]
    plain = val_pair_plan(resolve_config(WORLD), "lfw", families)
    mixed_cfg = resolve_config({**WORLD, "val": {**WORLD["val"], "lookalike_impostors": 0.5}})
    mixed = val_pair_plan(mixed_cfg, "lfw", families)
    kinds, plain_kinds = pair_kinds(mixed, families), pair_kinds(plain, families)
    assert np.array_equal(kinds == "genuine", mixed.issame) and np.array_equal(plain_kinds == "genuine", plain.issame)
    fam = families[mixed.identity[mixed.pairs]]
    assert np.array_equal(kinds == "lookalike", ~mixed.issame & (fam[:, 0] == fam[:, 1]))
    assert 0.4 < np.mean(kinds[~mixed.issame] == "lookalike") < 0.65  # 0.5 asked, plus random ones within a family
    assert np.mean(plain_kinds[~plain.issame] == "lookalike") < 0.2
    assert np.all(pair_kinds(val_pair_plan(mixed_cfg, "calfw", families), families)[~mixed.issame] == "lookalike")


@pytest.mark.parametrize(("cfg", "message"), [
    ({"train": {"lookalike_share": 1.5}}, "train.lookalike_share"),
    ({"val": {"lookalike_impostors": -0.1}}, "val.lookalike_impostors"),
])
def test_bad_shares_name_the_key(cfg: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_config(cfg)
