"""MagFace (Meng et al. 2021): a margin growing with the feature norm, plus a norm regulariser."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from x2softmax.losses.base import MarginLoss, additive_angular, register_loss


@register_loss
class MagFace(MarginLoss):
    """MagFace: target s·cos(θ_y + m(a)), a = clamp(‖x‖, l_a, u_a), m(a) linear from l_m at l_a to u_m at u_a.

    The regulariser λ_g·mean(g(a)), g(a) = 1/a + a/u_a², is returned by `extra_loss`. Defaults: the official
    MS1M recipe (IrvingMeng/MagFace README and run.sh).
    """

    name: ClassVar[str] = "magface"
    display_name: ClassVar[str] = "MagFace"
    paper: ClassVar[str] = ("Meng et al. 2021, MagFace: A Universal Representation for Face "
                              "Recognition and Quality Assessment")
    needs_norms: ClassVar[bool] = True

    def __init__(
        self,
        s: float = 64.0,
        l_a: float = 10.0,
        u_a: float = 110.0,
        l_m: float = 0.45,
        u_m: float = 0.8,
        lambda_g: float = 35.0,
        gradient: str = "exact",
    ) -> None:
        super().__init__(s=s, gradient=gradient)
        self.l_a = self.check_number("l_a", l_a, low=0.0, low_open=True)
        self.u_a = self.check_number("u_a", u_a, low=self.l_a, low_open=True)
        self.l_m = self.check_number("l_m", l_m, low=0.0)
        self.u_m = self.check_number("u_m", u_m, low=self.l_m)
        self.lambda_g = self.check_number("lambda_g", lambda_g, low=0.0)

    def margin(self, norms: Tensor) -> Tensor:
        """m(a) for feature norms `norms`."""
        a = norms.clamp(self.l_a, self.u_a)
        return (self.u_m - self.l_m) / (self.u_a - self.l_a) * (a - self.l_a) + self.l_m

    def _target_logits(self, cos_y: Tensor, norms_y: Tensor | None) -> Tensor:
        """s·cos(θ_y + m(‖x‖)) with the ArcFace guard per sample."""
        return self.scale * additive_angular(cos_y, self.margin(norms_y))

    def extra_loss(self, norms: Tensor | None) -> Tensor:
        """λ_g · mean over the batch of g(a) = 1/a + a/u_a²."""
        if norms is None:
            raise ValueError(f"{self.name}: extra_loss needs the feature norms")
        a = norms.float().reshape(-1).clamp(self.l_a, self.u_a)
        return self.lambda_g * (1.0 / a + a / self.u_a**2).mean()

    def extra_repr(self) -> str:
        """Short description for print(module)."""
        return (f"{super().extra_repr()}, l_a={self.l_a:g}, u_a={self.u_a:g}, l_m={self.l_m:g}, u_m={self.u_m:g}, "
                f"lambda_g={self.lambda_g:g}")
