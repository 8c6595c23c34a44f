"""iResNet backbones and their registry. The torch-backed names import on first use (PEP 562): `BACKBONES` (the
shapes by name, which the config schema reads) comes without torch, so `x2softmax config-check` refuses a preset
that breaks the schema without torch's start-up."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from x2softmax.models.backbones import BACKBONES

_MODULE_OF = {"IBasicBlock": "iresnet", "IResNet": "iresnet", "build_backbone": "registry", "load_backbone": "registry"}
__all__ = ["BACKBONES", "IBasicBlock", "IResNet", "build_backbone", "load_backbone"]


def __getattr__(name: str) -> Any:
    """`x2softmax.models.NAME` for the torch-backed names: imported from their module on first use."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'x2softmax.models' has no attribute {name!r}")
    return getattr(import_module(f"x2softmax.models.{_MODULE_OF[name]}"), name)
