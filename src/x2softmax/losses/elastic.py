"""ElasticFace (Boutros et al. 2022): margins drawn from N(m, σ) per sample and step; Arc, Cos and "+" forms."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from x2softmax.losses.base import MarginLoss, additive_angular, register_loss


class _Elastic(MarginLoss):
    """Shared ElasticFace logic: in training mode each present target draws m_i ~ N(m, σ) from torch's global RNG.

    With `plus`, the drawn margins are sorted and handed out by the target angle, so the sample farthest from
    its class centre gets the largest margin (the behaviour the paper describes). In eval mode m_i = m.
    """

    plus: ClassVar[bool] = False

    def __init__(self, s: float, m: float, sigma: float, gradient: str) -> None:
        super().__init__(s=s, gradient=gradient)
        self.m = self.check_number("m", m, low=0.0, high=2.0)
        self.sigma = self.check_number("sigma", sigma, low=0.0)

    def _margin_target(self, cosine: Tensor, margin: float | Tensor) -> Tensor:
        """The normalised target logit for margin(s) `margin`."""
        raise NotImplementedError

    def fixed_target(self, cosine: Tensor) -> Tensor:
        """f(θ) at the mean margin m."""
        return self._margin_target(cosine, self.m)

    def draw_margins(self, cos_y: Tensor) -> Tensor:
        """Per-sample margins for target cosines `cos_y` (sorted by angle for the "+" variants)."""
        margins = torch.normal(self.m, self.sigma, size=cos_y.shape, device=cos_y.device, dtype=cos_y.dtype)
        if not self.plus:
            return margins
        assigned = torch.empty_like(margins)
        assigned[torch.argsort(cos_y, descending=True)] = torch.sort(margins).values
        return assigned

    def _target_logits(self, cos_y: Tensor, norms_y: Tensor | None) -> Tensor:
        """s·f(θ_y; m_i) with margins drawn in training mode, the mean m in eval mode."""
        margin = self.draw_margins(cos_y.detach()) if self.training else self.m
        return self.scale * self._margin_target(cos_y, margin)

    def extra_repr(self) -> str:
        """Short description for print(module)."""
        return f"{super().extra_repr()}, m={self.m:g}, sigma={self.sigma:g}"


@register_loss
class ElasticArcFace(_Elastic):
    """ElasticFace-Arc: target logit s·cos(θ_y + m_i), m_i ~ N(m, σ)."""

    name: ClassVar[str] = "elasticface_arc"
    display_name: ClassVar[str] = "ElasticFace-Arc"
    paper: ClassVar[str] = "Boutros et al. 2022, ElasticFace: Elastic Margin Loss for Deep Face Recognition"

    def __init__(
        self, s: float = 64.0, m: float = 0.5, sigma: float = 0.05, gradient: str = "straight_through",
        pi_guard: bool = False,
    ) -> None:
        super().__init__(s=s, m=m, sigma=sigma, gradient=gradient)
        self.pi_guard = self.check_flag("pi_guard", pi_guard)

    def _margin_target(self, cosine: Tensor, margin: float | Tensor) -> Tensor:
        """cos(θ + m_i) for every θ (as the ElasticFace and X2 authors' code); guarded with pi_guard."""
        return additive_angular(cosine, margin, self.pi_guard)


@register_loss
class ElasticCosFace(_Elastic):
    """ElasticFace-Cos: target logit s·(cos θ_y − m_i), m_i ~ N(m, σ)."""

    name: ClassVar[str] = "elasticface_cos"
    display_name: ClassVar[str] = "ElasticFace-Cos"
    paper: ClassVar[str] = "Boutros et al. 2022, ElasticFace: Elastic Margin Loss for Deep Face Recognition"

    def __init__(
        self, s: float = 64.0, m: float = 0.35, sigma: float = 0.05, gradient: str = "straight_through"
    ) -> None:
        super().__init__(s=s, m=m, sigma=sigma, gradient=gradient)

    def _margin_target(self, cosine: Tensor, margin: float | Tensor) -> Tensor:
        """cos θ − m_i."""
        return cosine - margin


@register_loss
class ElasticArcFacePlus(ElasticArcFace):
    """ElasticFace-Arc+: larger drawn margins go to samples farther from their class centre."""

    name: ClassVar[str] = "elasticface_arc_plus"
    display_name: ClassVar[str] = "ElasticFace-Arc+"
    paper: ClassVar[str] = "Boutros et al. 2022, ElasticFace: Elastic Margin Loss for Deep Face Recognition"
    plus: ClassVar[bool] = True

    def __init__(
        self, s: float = 64.0, m: float = 0.5, sigma: float = 0.0175, gradient: str = "straight_through",
        pi_guard: bool = False,
    ) -> None:
        super().__init__(s=s, m=m, sigma=sigma, gradient=gradient, pi_guard=pi_guard)


@register_loss
class ElasticCosFacePlus(ElasticCosFace):
    """ElasticFace-Cos+: larger drawn margins go to samples farther from their class centre."""

    name: ClassVar[str] = "elasticface_cos_plus"
    display_name: ClassVar[str] = "ElasticFace-Cos+"
    paper: ClassVar[str] = "Boutros et al. 2022, ElasticFace: Elastic Margin Loss for Deep Face Recognition"
    plus: ClassVar[bool] = True

    def __init__(
        self, s: float = 64.0, m: float = 0.35, sigma: float = 0.02, gradient: str = "straight_through"
    ) -> None:
        super().__init__(s=s, m=m, sigma=sigma, gradient=gradient)
