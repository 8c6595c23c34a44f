"""The dataset registry (registry.yaml) as data. Free of the readers (torch, OpenCV): the config's schema lists the
dataset names (x2softmax.config.registry_schema), and every Snakemake process validates the config."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml


@cache
def _registry_text() -> str:
    return resources.files("x2softmax.data").joinpath("registry.yaml").read_text(encoding="utf-8")


def load_registry() -> dict:
    """The dataset registry (registry.yaml): name -> kind, path, files, expected counts, sources, instructions."""
    registry = yaml.safe_load(_registry_text())
    for name, entry in registry.items():
        missing = {"kind", "path", "manual"} - set(entry)
        if missing:
            raise ValueError(f"registry.yaml: dataset {name} lacks {sorted(missing)}")
    return registry
