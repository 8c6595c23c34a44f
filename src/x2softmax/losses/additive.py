"""Fixed additive margins: CosFace (cos θ − m) and ArcFace (cos(θ + m))."""

from __future__ import annotations

import math
from typing import ClassVar

from torch import Tensor

from x2softmax.losses.base import MarginLoss, additive_angular, register_loss


@register_loss
class CosFace(MarginLoss):
    """CosFace / LMCL (Wang et al. 2018): target logit s·(cos θ_y − m); both gradient modes give the same gradient,
    straight-through (the default) is the cheaper one."""

    name: ClassVar[str] = "cosface"
    display_name: ClassVar[str] = "CosFace"
    paper: ClassVar[str] = "Wang et al. 2018, CosFace: Large Margin Cosine Loss for Deep Face Recognition"

    def __init__(self, s: float = 64.0, m: float = 0.35, gradient: str = "straight_through") -> None:
        super().__init__(s=s, gradient=gradient)
        self.m = self.check_number("m", m, low=0.0, high=2.0)

    def fixed_target(self, cosine: Tensor) -> Tensor:
        """f(θ) = cos θ − m."""
        return cosine - self.m

    def extra_repr(self) -> str:
        """Short description for print(module)."""
        return f"{super().extra_repr()}, m={self.m:g}"


@register_loss
class ArcFace(MarginLoss):
    """ArcFace (Deng et al. 2019): target logit s·cos(θ_y + m) for every θ, as the X2 authors and current
    arcface_torch compute it; `pi_guard=True` uses cos θ − m·sin m where θ + m > π (the old insightface guard)."""

    name: ClassVar[str] = "arcface"
    display_name: ClassVar[str] = "ArcFace"
    paper: ClassVar[str] = "Deng et al. 2019, ArcFace: Additive Angular Margin Loss for Deep Face Recognition"

    def __init__(self, s: float = 64.0, m: float = 0.5, gradient: str = "straight_through",
                 pi_guard: bool = False) -> None:
        super().__init__(s=s, gradient=gradient)
        self.m = self.check_number("m", m, low=0.0, high=math.pi, high_open=True)
        self.pi_guard = self.check_flag("pi_guard", pi_guard)

    def fixed_target(self, cosine: Tensor) -> Tensor:
        """f(θ) = cos(θ + m); with pi_guard, cos θ − m·sin m where θ + m > π."""
        return additive_angular(cosine, self.m, self.pi_guard)

    def extra_repr(self) -> str:
        """Short description for print(module)."""
        return f"{super().extra_repr()}, m={self.m:g}, pi_guard={self.pi_guard}"
