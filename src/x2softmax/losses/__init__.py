"""Margin-based softmax losses for face recognition and their registry (`build_loss`)."""

from __future__ import annotations

from x2softmax.losses.base import MarginLoss, NoFixedTargetError
from x2softmax.losses.registry import available_losses, build_loss, default_hparams

__all__ = ["MarginLoss", "NoFixedTargetError", "available_losses", "build_loss", "default_hparams"]
