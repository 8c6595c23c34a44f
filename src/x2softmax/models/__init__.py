"""iResNet backbones and their registry.

`BACKBONES` comes from models.backbones (no torch); the other names are imported on first use (PEP 562
`__getattr__`): the config's validation reads the backbone names in every Snakemake process, and
`x2softmax config-check` refuses a preset that breaks the schema without torch's start-up."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from x2softmax.models.backbones import BACKBONES

if TYPE_CHECKING:
    from x2softmax.models.iresnet import IBasicBlock, IResNet
    from x2softmax.models.registry import build_backbone, load_backbone

_ON_FIRST_USE = {"IBasicBlock": "iresnet", "IResNet": "iresnet", "build_backbone": "registry",
                 "load_backbone": "registry"}
__all__ = ["BACKBONES", "IBasicBlock", "IResNet", "build_backbone", "load_backbone"]


def __getattr__(name: str) -> Any:
    """A name of the backbone registry or the iResNet module, imported from its module on first use."""
    if name not in _ON_FIRST_USE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_ON_FIRST_USE[name]}"), name)
