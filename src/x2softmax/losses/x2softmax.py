"""X2-Softmax (Xu et al. 2023): quadratic target logit a(θ − h)² + k with an angle-dependent margin."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from torch import Tensor

from x2softmax.losses.base import MarginLoss, angle, register_loss

_CHECK_GRID = np.linspace(0.0, math.pi, 100_001)
_TOLERANCE = 1e-9


@register_loss
class X2Softmax(MarginLoss):
    """X2-Softmax: target logit s·(a(θ_y − h)² + k), non-target s·cos θ_j.

    Valid parameter sets make f decreasing on [0, π] (a < 0 with h ≤ 0, or a > 0 with h ≥ π) and keep the margin
    cos θ − f(θ) non-negative there; others raise unless `allow_non_monotone` / `allow_negative_margin` is set.
    """

    name: ClassVar[str] = "x2softmax"
    display_name: ClassVar[str] = "X2-Softmax"
    paper: ClassVar[str] = "Xu et al. 2023, X2-Softmax: Margin Adaptive Loss Function for Face Recognition"
    subject: ClassVar[bool] = True  # the loss this replication is about

    def __init__(
        self,
        s: float = 64.0,
        a: float = -0.9,
        h: float = 0.0,
        k: float = 0.65,
        gradient: str = "straight_through",
        allow_negative_margin: bool = False,
        allow_non_monotone: bool = False,
    ) -> None:
        super().__init__(s=s, gradient=gradient)
        self.a = self.check_number("a", a)
        self.h = self.check_number("h", h)
        self.k = self.check_number("k", k)
        for key, flag in (("allow_negative_margin", allow_negative_margin), ("allow_non_monotone", allow_non_monotone)):
            if not isinstance(flag, bool):
                raise ValueError(f"{self.name}: hyperparameter {key}={flag!r} must be true or false")
        if not allow_non_monotone:
            self._check_monotone()
        if not allow_negative_margin:
            self._check_margin()

    def _check_monotone(self) -> None:
        """Raise unless f is decreasing on [0, π]."""
        if not ((self.a < 0 and self.h <= 0) or (self.a > 0 and self.h >= math.pi)):
            raise ValueError(
                f"{self.name}: hyperparameters a={self.a:g}, h={self.h:g} make f(θ) = a(θ − h)² + k not decreasing "
                "on [0, π] (need a < 0 with h <= 0, or a > 0 with h >= π); pass allow_non_monotone=True to allow"
            )

    def _check_margin(self) -> None:
        """Raise unless cos θ − f(θ) >= 0 on [0, π], naming the parameter to change."""
        theta = _CHECK_GRID
        margin = np.cos(theta) - (self.a * (theta - self.h) ** 2 + self.k)
        worst = int(np.argmin(margin))
        if margin[worst] >= -_TOLERANCE:
            return
        where = f"θ = {math.degrees(theta[worst]):.2f}°"
        away = np.abs(theta - self.h) > 1e-6
        if not away[worst]:
            raise ValueError(
                f"{self.name}: hyperparameter k={self.k:g} gives a negative margin at {where} "
                f"(need k <= cos(h) = {math.cos(self.h):.4f}); pass allow_negative_margin=True to allow"
            )
        bound = float(np.min((np.cos(theta[away]) - self.k) / (theta[away] - self.h) ** 2))
        raise ValueError(
            f"{self.name}: hyperparameter a={self.a:g} gives a negative margin (f(θ) > cos θ) at {where}; "
            f"with h={self.h:g}, k={self.k:g} it needs a <= {bound:.4f}; pass allow_negative_margin=True to allow"
        )

    def fixed_target(self, cosine: Tensor) -> Tensor:
        """f(θ) = a(θ − h)² + k with θ = arccos(cos θ) in radians."""
        return self.a * (angle(cosine) - self.h) ** 2 + self.k

    def extra_repr(self) -> str:
        """Short description for print(module)."""
        return f"{super().extra_repr()}, a={self.a:g}, h={self.h:g}, k={self.k:g}"
