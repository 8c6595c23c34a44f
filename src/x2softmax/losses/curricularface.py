"""CurricularFace (Huang et al. 2020): ArcFace target plus hard negatives re-weighted by a running t."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from x2softmax.losses.base import MarginLoss, additive_angular, clamp_cosine, register_loss


@register_loss
class CurricularFace(MarginLoss):
    """CurricularFace: target s·cos(θ_y + m) (guarded); a non-target with cos θ_j > cos(θ_y + m) becomes
    s·cos θ_j (t + cos θ_j), where t ← α·mean(cos θ_y) + (1 − α)·t is updated each training call before use
    (buffer `t`, starts at 0). Defaults and update order follow HuangYG123/CurricularFace (head/metrics.py).
    Rows whose target is in another shard (label −1) are only scaled.
    """

    name: ClassVar[str] = "curricularface"
    display_name: ClassVar[str] = "CurricularFace"
    paper: ClassVar[str] = ("Huang et al. 2020, CurricularFace: Adaptive Curriculum Learning Loss "
                              "for Deep Face Recognition")

    def __init__(self, s: float = 64.0, m: float = 0.5, t_alpha: float = 0.01, gradient: str = "exact") -> None:
        super().__init__(s=s, gradient=gradient)
        self.m = self.check_number("m", m, low=0.0, high=math.pi, high_open=True)
        self.t_alpha = self.check_number("t_alpha", t_alpha, low=0.0, high=1.0)
        self.register_buffer("t", torch.zeros((), dtype=torch.float32))

    def _observe_batch(self, cosine: Tensor, rows: Tensor, cols: Tensor, norms: Tensor | None) -> None:
        """t ← α·mean(cos θ_y) + (1 − α)·t over the rows with a target here."""
        if rows.numel():
            self.t.mul_(1.0 - self.t_alpha).add_(self.t_alpha * cosine[rows, cols].mean())

    def _base_logits(self, cosine: Tensor, rows: Tensor, cols: Tensor, norms: Tensor | None) -> Tensor:
        """s·cos θ_j, times (t + cos θ_j) for the hard negatives (cos θ_j > cos(θ_y + m)) of rows with a target."""
        cos_y = clamp_cosine(cosine.detach()[rows, cols])
        threshold = torch.full((cosine.shape[0], 1), math.inf, device=cosine.device)
        threshold[rows, 0] = cos_y * math.cos(self.m) - torch.sqrt(1.0 - cos_y * cos_y) * math.sin(self.m)
        hard = cosine.detach() > threshold
        hard[rows, cols] = False
        if self.gradient == "exact":
            return cosine * torch.where(hard, self.t + cosine, 1.0) * self.scale
        logits = cosine * self.scale
        with torch.no_grad():
            logits.mul_(torch.where(hard, self.t + cosine, 1.0))
        return logits

    def _target_logits(self, cos_y: Tensor, norms_y: Tensor | None) -> Tensor:
        """s·cos(θ_y + m) with the ArcFace guard."""
        return self.scale * additive_angular(cos_y, self.m)

    def extra_repr(self) -> str:
        """Short description for print(module)."""
        return f"{super().extra_repr()}, m={self.m:g}, t={float(self.t):.4f}"
