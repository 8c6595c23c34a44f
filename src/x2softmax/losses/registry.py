"""The loss registry: every module of this package is imported, and registers its losses where it defines them
(`@register_loss`); names → classes, display names, construction with checked hyperparameters. Adding a loss is
adding its module here (docs/architecture.md, "Adding a loss"). The subject loss (`SUBJECT`) and the default
hyperparameters (`default_hparams`) are read from the same modules' source by losses.sources, without torch."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from x2softmax.losses.base import LOSSES, MarginLoss
from x2softmax.losses.sources import default_hparams

for _module in pkgutil.iter_modules([str(Path(__file__).parent)]):  # sorted by module name: one order everywhere
    if _module.name not in ("base", "registry", "sources"):
        importlib.import_module(f"{__package__}.{_module.name}")


def available_losses() -> list[str]:
    """Registry names of every loss."""
    return list(LOSSES)


def _loss_class(name: str) -> type[MarginLoss]:
    """The class registered under `name`, or a ValueError listing the known names."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known losses: {', '.join(LOSSES)}")
    return LOSSES[name]


def display_names() -> dict[str, str]:
    """Registry name → display name (as the papers and reference_numbers.csv spell it) of every loss."""
    return {name: cls.display_name for name, cls in LOSSES.items()}


def build_loss(name: str, **hparams: Any) -> MarginLoss:
    """Construct loss `name` with `hparams` over its defaults; unknown or invalid hyperparameters raise ValueError."""
    cls = _loss_class(name)
    unknown = sorted(set(hparams) - set(default_hparams(name)))
    if unknown:
        raise ValueError(
            f"{name}: unknown hyperparameter(s) {', '.join(unknown)}; known: {', '.join(default_hparams(name))}"
        )
    return cls(**hparams)
