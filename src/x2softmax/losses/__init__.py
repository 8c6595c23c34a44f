"""Margin-based softmax losses for face recognition and their registry (`build_loss`, `SUBJECT`).

`SUBJECT` and `default_hparams` come from losses.sources, which reads the package's source; the other names are
imported on first use (PEP 562 `__getattr__`): `from x2softmax.losses import SUBJECT, default_hparams` imports no
torch (the workflow files read them in every Snakemake process)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from x2softmax.losses.sources import SUBJECT

if TYPE_CHECKING:
    from x2softmax.losses.base import MarginLoss, NoFixedTargetError
    from x2softmax.losses.registry import available_losses, build_loss, display_names
    from x2softmax.losses.sources import default_hparams

_ON_FIRST_USE = {"MarginLoss": "base", "NoFixedTargetError": "base", "available_losses": "registry",
                 "build_loss": "registry", "default_hparams": "sources", "display_names": "registry"}

__all__ = ["SUBJECT", "MarginLoss", "NoFixedTargetError", "available_losses", "build_loss", "default_hparams",
           "display_names"]


def __getattr__(name: str) -> Any:
    """A name of the registry or the base class, imported from its module on first use."""
    if name not in _ON_FIRST_USE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_ON_FIRST_USE[name]}"), name)
