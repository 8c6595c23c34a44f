"""The margin-loss base class (input checks, target-column replacement, gradient modes, hyperparameter checks) and
`register_loss`, the decorator a loss module registers its classes with where it defines them."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GRADIENT_MODES = ("straight_through", "exact")
LOSSES: dict[str, type[MarginLoss]] = {}  # registry name -> class, filled by @register_loss


def clamp_cosine(cosine: Tensor) -> Tensor:
    """Clamp cosines to [-1 + eps, 1 - eps] (eps = two ulps of 1 in the dtype) so arccos and sqrt stay finite."""
    eps = 2.0 * torch.finfo(cosine.dtype).eps
    return cosine.clamp(-1.0 + eps, 1.0 - eps)


def angle(cosine: Tensor) -> Tensor:
    """θ = arccos(cos θ) in radians, on clamped cosines."""
    return torch.arccos(clamp_cosine(cosine))


def additive_angular(cosine: Tensor, margin: float | Tensor, pi_guard: bool = True) -> Tensor:
    """cos(θ + m); with `pi_guard`, cos θ − m·sin m where θ + m > π (the old insightface guard keeping it decreasing)."""
    cos = clamp_cosine(cosine)
    margin_t = torch.as_tensor(margin, dtype=cos.dtype, device=cos.device)
    sin = torch.sqrt(1.0 - cos * cos)
    shifted = cos * torch.cos(margin_t) - sin * torch.sin(margin_t)
    if not pi_guard:
        return shifted
    guarded = cos - torch.sin(math.pi - margin_t) * margin_t
    return torch.where(cos > torch.cos(math.pi - margin_t), shifted, guarded)


def register_loss(cls: type[MarginLoss]) -> type[MarginLoss]:
    """Register loss class `cls` under its `name` (a class decorator in the module that defines the loss)."""
    for key in ("name", "display_name", "paper"):
        if not isinstance(cls.__dict__.get(key), str) or not cls.__dict__[key]:
            raise ValueError(f"loss class {cls.__qualname__} ({cls.__module__}) must set {key} to a string of its own")
    if cls.name in LOSSES and LOSSES[cls.name] is not cls:
        raise ValueError(f"loss {cls.name!r} of {cls.__module__} is already registered by "
                         f"{LOSSES[cls.name].__module__}")
    LOSSES[cls.name] = cls
    return cls


class NoFixedTargetError(ValueError):
    """Raised for losses whose target logit depends on the feature norms or the batch (no fixed f(θ))."""


class MarginLoss(nn.Module):
    """A margin-based softmax loss: `margin_logits` turns the cosine matrix into scaled logits for cross-entropy.

    Subclasses set `name` (the registry name), `display_name` (as papers and reference_numbers.csv spell it),
    `paper` (where the loss comes from), `needs_norms`; `subject` marks the loss this replication is about; the
    default hyperparameters are the keyword defaults of `__init__`. They implement `fixed_target` (the deterministic
    normalised target logit f(θ) used by the margin analysis) and/or `_target_logits` (the scaled target logits of one
    training step).
    """

    name: ClassVar[str]
    display_name: ClassVar[str]
    paper: ClassVar[str]
    subject: ClassVar[bool] = False
    needs_norms: ClassVar[bool] = False
    raw_logits: ClassVar[bool] = False

    def __init__(self, s: float, gradient: str) -> None:
        super().__init__()
        self.scale = float(self.check_number("s", s, low=0.0, low_open=True))
        if gradient not in GRADIENT_MODES:
            raise ValueError(f"{self.name}: hyperparameter gradient={gradient!r} must be one of {GRADIENT_MODES}")
        self.gradient = gradient

    @classmethod
    def check_number(
        cls,
        key: str,
        value: object,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        high_open: bool = False,
    ) -> float:
        """Return `value` as a float, or raise ValueError naming the loss and `key` if it is not finite/in range."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{cls.name}: hyperparameter {key}={value!r} must be a finite number")
        v = float(value)
        too_low = low is not None and (v <= low if low_open else v < low)
        too_high = high is not None and (v >= high if high_open else v > high)
        if too_low or too_high:
            lo = "-inf" if low is None else f"{low:g}"
            hi = "inf" if high is None else f"{high:g}"
            interval = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
            raise ValueError(f"{cls.name}: hyperparameter {key}={value!r} must lie in {interval}")
        return v

    @classmethod
    def check_flag(cls, key: str, value: object) -> bool:
        """Return `value` if it is a bool, or raise ValueError naming the loss and `key`."""
        if not isinstance(value, bool):
            raise ValueError(f"{cls.name}: hyperparameter {key}={value!r} must be true or false")
        return value

    def fixed_target(self, cosine: Tensor) -> Tensor:
        """The normalised, unscaled target logit f(θ) as a function of cos θ (no randomness, no state)."""
        raise NoFixedTargetError(
            f"{self.name}: no fixed target logit (its margin depends on the feature norms or the batch)"
        )

    def _target_logits(self, cos_y: Tensor, norms_y: Tensor | None) -> Tensor:
        """Scaled target logits of one step for the rows whose target class is present."""
        return self.scale * self.fixed_target(cos_y)

    def _row_scale(self, norms: Tensor | None) -> float | Tensor:
        """What the cosines of a row are multiplied by: s (or the feature norms [N, 1] for SphereFace)."""
        return self.scale

    def _observe_batch(self, cosine: Tensor, rows: Tensor, cols: Tensor, norms: Tensor | None) -> None:
        """Hook run once per training-mode call to update state kept in buffers; nothing for stateless losses."""

    def _base_logits(self, cosine: Tensor, rows: Tensor, cols: Tensor, norms: Tensor | None) -> Tensor:
        """Logits before the target replacement: the scaled cosines (CurricularFace also re-weights hard negatives).

        Target entries must stay row_scale · cos θ_y: `margin_logits` relies on it for the exact gradient.
        """
        return cosine * self._row_scale(norms)

    def _check_inputs(
        self, cosine: Tensor, labels: Tensor, norms: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Validate shapes and return (cosine fp32, labels int64, norms fp32 [N] or None)."""
        if cosine.dim() != 2:
            raise ValueError(f"{self.name}: cosine must be a [N, C] matrix, got shape {tuple(cosine.shape)}")
        n, c = cosine.shape
        if labels.dim() != 1 or labels.shape[0] != n:
            raise ValueError(f"{self.name}: labels must have shape [{n}], got {tuple(labels.shape)}")
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError(f"{self.name}: labels must be integers, got {labels.dtype}")
        labels = labels.long()
        # checked where reading the labels back costs nothing; on an accelerator the check would make the host wait
        # every step, and an out-of-range label fails there in the gather (device-side assert) instead
        if n and labels.device.type == "cpu" and (int(labels.min()) < -1 or int(labels.max()) >= c):
            raise ValueError(f"{self.name}: labels must lie in [-1, {c - 1}] (-1: class held by another shard)")
        if norms is None:
            if self.needs_norms:
                raise ValueError(f"{self.name}: needs the feature norms (norms=None given)")
            return cosine.float(), labels, None
        if norms.numel() != n or (norms.dim() == 2 and norms.shape[1] != 1) or norms.dim() > 2:
            raise ValueError(f"{self.name}: norms must have shape [{n}] or [{n}, 1], got {tuple(norms.shape)}")
        return cosine.float(), labels, norms.float().reshape(n)

    def margin_logits(self, cosine: Tensor, labels: Tensor, norms: Tensor | None = None, *,
                      all_local: bool = False) -> Tensor:
        """Logits for cross-entropy (fp32, already scaled) from cosines [N, C], labels [N] (-1: not in this shard).

        `all_local`: the caller guarantees no label is -1 (one shard holds every class), so the target rows are
        0..N-1 and are not found by reading the labels back (`torch.nonzero` makes the host wait for the device).
        """
        with torch.autocast(device_type=cosine.device.type, enabled=False):
            return self._margin_logits_fp32(cosine, labels, norms, all_local)

    def _margin_logits_fp32(self, cosine: Tensor, labels: Tensor, norms: Tensor | None,
                            all_local: bool = False) -> Tensor:
        """`margin_logits` outside autocast.

        The target entries are written in place without autograd, so the backward pass of the full matrix is the
        one of the scaled cosines (straight-through: dL/dcos θ_j = s(p_j − 1[j = y])). In exact mode a zero-valued
        correction carrying d(target − s·cos θ_y) is added to the target entries with accumulate=True, so the
        backward pass never copies the logit gradient (only the gather of cos θ_y scatters back into [N, C]).
        """
        cosine, labels, norms = self._check_inputs(cosine, labels, norms)
        rows = (torch.arange(len(labels), device=labels.device) if all_local
                else torch.nonzero(labels >= 0).squeeze(1))
        cols = labels[rows]
        if self.training:
            with torch.no_grad():
                self._observe_batch(cosine.detach(), rows, cols, None if norms is None else norms.detach())
        logits = self._base_logits(cosine, rows, cols, norms)
        cos_y = cosine[rows, cols]
        norms_y = None if norms is None else norms[rows]
        if self.gradient == "straight_through":
            with torch.no_grad():
                logits[rows, cols] = self._target_logits(cos_y.detach(), None if norms_y is None else norms_y.detach())
            return logits
        target = self._target_logits(cos_y, norms_y)
        row_scale = self._row_scale(norms_y)
        correction = target - cos_y * (row_scale.squeeze(1) if isinstance(row_scale, Tensor) else row_scale)
        with torch.no_grad():
            logits[rows, cols] = target
        logits.index_put_((rows, cols), correction - correction.detach(), accumulate=True)
        return logits

    def extra_loss(self, norms: Tensor | None) -> Tensor:
        """Scalar added to the cross-entropy (MagFace's norm regulariser); zero here."""
        device = None if norms is None else norms.device
        return torch.zeros((), dtype=torch.float32, device=device)

    def forward(self, cosine: Tensor, labels: Tensor, norms: Tensor | None = None) -> Tensor:
        """Unsharded loss: mean cross-entropy of `margin_logits` plus `extra_loss` (all labels must be >= 0)."""
        logits = self.margin_logits(cosine, labels, norms, all_local=True)
        return F.cross_entropy(logits, labels.long()) + self.extra_loss(norms)

    def extra_repr(self) -> str:
        """Short description for print(module)."""
        return f"scale={self.scale:g}, gradient={self.gradient}"
