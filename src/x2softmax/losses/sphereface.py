"""SphereFace / A-Softmax (Liu et al. 2017): multiplicative angular margin ψ(θ) with λ-annealing."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from x2softmax.losses.base import MarginLoss, angle, register_loss


@register_loss
class SphereFace(MarginLoss):
    """A-Softmax: logits ‖x‖·cos θ_j; target ‖x‖(cos θ_y + (ψ(θ_y) − cos θ_y)/(1 + λ)).

    ψ(θ) = (−1)^k cos(mθ) − 2k on [kπ/m, (k+1)π/m]; λ = max(λ_min, λ_base·(1 + γ·it)^(−power)) with `it` the
    number of training calls so far (counted in the `iteration` buffer, incremented before use as in the original).
    """

    name: ClassVar[str] = "sphereface"
    display_name: ClassVar[str] = "SphereFace"
    paper: ClassVar[str] = "Liu et al. 2017, SphereFace: Deep Hypersphere Embedding for Face Recognition"
    needs_norms: ClassVar[bool] = True

    def __init__(
        self,
        m: int = 4,
        lambda_base: float = 1000.0,
        lambda_gamma: float = 0.12,
        lambda_power: float = 1.0,
        lambda_min: float = 5.0,
        gradient: str = "exact",
    ) -> None:
        super().__init__(s=1.0, gradient=gradient)
        if isinstance(m, bool) or not isinstance(m, (int, float)) or m != int(m) or m < 1:
            raise ValueError(f"{self.name}: hyperparameter m={m!r} must be a positive integer")
        self.m = int(m)
        self.lambda_base = self.check_number("lambda_base", lambda_base, low=0.0)
        self.lambda_gamma = self.check_number("lambda_gamma", lambda_gamma, low=0.0)
        self.lambda_power = self.check_number("lambda_power", lambda_power, low=0.0)
        self.lambda_min = self.check_number("lambda_min", lambda_min, low=0.0)
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    def current_lambda(self) -> float:
        """λ at the current iteration count."""
        annealed = self.lambda_base * (1.0 + self.lambda_gamma * int(self.iteration)) ** (-self.lambda_power)
        return max(self.lambda_min, annealed)

    def fixed_target(self, cosine: Tensor) -> Tensor:
        """ψ(θ) = (−1)^k cos(mθ) − 2k, k = ⌊mθ/π⌋ (no annealing)."""
        theta = angle(cosine)
        k = torch.clamp(torch.floor(self.m * theta / math.pi), max=self.m - 1)
        sign = 1.0 - 2.0 * torch.remainder(k, 2.0)
        return sign * torch.cos(self.m * theta) - 2.0 * k

    def _row_scale(self, norms: Tensor | None) -> Tensor:
        """Every logit of a row is multiplied by the feature norm ‖x‖."""
        return norms.unsqueeze(1)

    def _target_logits(self, cos_y: Tensor, norms_y: Tensor | None) -> Tensor:
        """‖x‖(cos θ + (ψ(θ) − cos θ)/(1 + λ))."""
        mix = 1.0 / (1.0 + self.current_lambda())
        return norms_y * (cos_y + (self.fixed_target(cos_y) - cos_y) * mix)

    def _observe_batch(self, cosine: Tensor, rows: Tensor, cols: Tensor, norms: Tensor | None) -> None:
        """Advance the annealing counter."""
        self.iteration += 1

    def extra_repr(self) -> str:
        """Short description for print(module)."""
        return f"m={self.m}, gradient={self.gradient}, iteration={int(self.iteration)}"
