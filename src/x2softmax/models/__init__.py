"""iResNet backbones and their registry."""

from __future__ import annotations

from x2softmax.models.iresnet import IBasicBlock, IResNet
from x2softmax.models.registry import BACKBONES, build_backbone, load_backbone

__all__ = ["BACKBONES", "IBasicBlock", "IResNet", "build_backbone", "load_backbone"]
