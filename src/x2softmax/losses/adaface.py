"""AdaFace (Kim et al. 2022): a margin adapted to image quality, estimated by the batch-normalised feature norm."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from x2softmax.losses.base import MarginLoss, angle, register_loss


@register_loss
class AdaFace(MarginLoss):
    """AdaFace: with z = clip(h·(‖x‖ − μ)/(σ + eps), −1, 1), target s·(cos(clip(θ_y − m·z, eps, π − eps)) − (m + m·z)).

    μ, σ are running batch mean/std of the clipped norms (buffers `batch_mean` = 20, `batch_std` = 100 at start,
    momentum `t_alpha`, updated each training call before use, over all rows of the batch). Norms are detached as
    in the official code (mk-minchul/AdaFace head.py), whose defaults these are.
    """

    name: ClassVar[str] = "adaface"
    display_name: ClassVar[str] = "AdaFace"
    paper: ClassVar[str] = "Kim et al. 2022, AdaFace: Quality Adaptive Margin for Face Recognition"
    needs_norms: ClassVar[bool] = True

    def __init__(
        self,
        s: float = 64.0,
        m: float = 0.4,
        h: float = 0.333,
        t_alpha: float = 0.01,
        eps: float = 1e-3,
        gradient: str = "exact",
    ) -> None:
        super().__init__(s=s, gradient=gradient)
        self.m = self.check_number("m", m, low=0.0, high=1.0)
        self.h = self.check_number("h", h, low=0.0)
        self.t_alpha = self.check_number("t_alpha", t_alpha, low=0.0, high=1.0)
        self.eps = self.check_number("eps", eps, low=0.0, high=0.1, low_open=True)
        self.register_buffer("batch_mean", torch.full((), 20.0))
        self.register_buffer("batch_std", torch.full((), 100.0))

    @staticmethod
    def _safe_norms(norms: Tensor) -> Tensor:
        """Norms clipped to [0.001, 100] and detached (as the official code)."""
        return norms.detach().clamp(0.001, 100.0)

    def _observe_batch(self, cosine: Tensor, rows: Tensor, cols: Tensor, norms: Tensor | None) -> None:
        """Running mean/std of the batch's clipped norms (std needs at least two samples)."""
        safe = self._safe_norms(norms)
        if safe.numel():
            self.batch_mean.mul_(1.0 - self.t_alpha).add_(self.t_alpha * safe.mean())
        if safe.numel() > 1:
            self.batch_std.mul_(1.0 - self.t_alpha).add_(self.t_alpha * safe.std())

    def _target_logits(self, cos_y: Tensor, norms_y: Tensor | None) -> Tensor:
        """s·(cos(θ_y + g_angle) − g_add) with the quality indicator z of each sample."""
        z = (self.h * (self._safe_norms(norms_y) - self.batch_mean) / (self.batch_std + self.eps)).clamp(-1.0, 1.0)
        theta = (angle(cos_y) - self.m * z).clamp(self.eps, math.pi - self.eps)
        return self.scale * (torch.cos(theta) - (self.m + self.m * z))

    def extra_repr(self) -> str:
        """Short description for print(module)."""
        return (f"{super().extra_repr()}, m={self.m:g}, h={self.h:g}, "
                f"batch_mean={float(self.batch_mean):.3f}, batch_std={float(self.batch_std):.3f}")
