"""The controlled study's worlds (issue 36, `config/presets/mechanism.yaml`): a config's `mechanism` grid of look-alike
shares × long-tail exponents of the training population, each world named and given its synthetic generator settings.
Free of numerical imports: the workflow files read it (workflow/rules/mechanism.smk) in every Snakemake process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


class World(NamedTuple):
    """One controlled world: its name and the generator overrides (data.synthetic with its train settings set)."""

    name: str
    synthetic: dict


def worlds(config: Mapping) -> list[World]:
    """The study's worlds of a resolved config (its `mechanism` grid over data.synthetic): every look-alike share
    crossed with every long-tail exponent, named share{x}_tail{e}; [] without a grid."""
    grid = config.get("mechanism")
    if not grid:
        return []
    base = config["data"]["synthetic"]
    out = []
    for exponent in grid["size_exponents"]:
        for share in grid["lookalike_shares"]:
            train = {**base.get("train", {}), "lookalike_share": float(share), "size_exponent": float(exponent)}
            out.append(World(f"share{share:g}_tail{exponent:g}", {**base, "train": train}))
    return out
