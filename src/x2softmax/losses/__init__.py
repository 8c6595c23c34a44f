"""Margin-based softmax losses for face recognition and their registry (`build_loss`, `SUBJECT`)."""

from __future__ import annotations

from x2softmax.losses.base import MarginLoss, NoFixedTargetError
from x2softmax.losses.registry import SUBJECT, available_losses, build_loss, default_hparams, display_names

__all__ = ["SUBJECT", "MarginLoss", "NoFixedTargetError", "available_losses", "build_loss", "default_hparams",
           "display_names"]
