"""Losses without a margin: plain Softmax (raw W·x logits) and NormFace (scaled cosine)."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from x2softmax.losses.base import MarginLoss, register_loss


@register_loss
class NormFace(MarginLoss):
    """NormFace: every logit is s·cos θ_j (normalised features and weights, no margin)."""

    name: ClassVar[str] = "normface"
    display_name: ClassVar[str] = "NormFace"
    paper: ClassVar[str] = "Wang et al. 2017, NormFace: L2 Hypersphere Embedding for Face Verification"

    def __init__(self, s: float = 64.0) -> None:
        super().__init__(s=s, gradient="exact")

    def fixed_target(self, cosine: Tensor) -> Tensor:
        """f(θ) = cos θ."""
        return cosine

    def _margin_logits_fp32(self, cosine: Tensor, labels: Tensor, norms: Tensor | None,
                            all_local: bool = False) -> Tensor:
        """s·cos θ for every class (labels only checked)."""
        cosine, _, _ = self._check_inputs(cosine, labels, norms)
        return cosine * self.scale

    def extra_repr(self) -> str:
        """Short description for print(module)."""
        return f"scale={self.scale:g}"


@register_loss
class Softmax(NormFace):
    """Plain softmax: the first argument of `margin_logits` is the raw logit matrix W·x (no normalisation, no scale)."""

    name: ClassVar[str] = "softmax"
    display_name: ClassVar[str] = "Softmax"
    paper: ClassVar[str] = "the softmax cross-entropy baseline of the margin-loss papers"
    raw_logits: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__(s=1.0)
