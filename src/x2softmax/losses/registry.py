"""The loss registry: names → classes, default hyperparameters, construction with checked hyperparameters."""

from __future__ import annotations

import inspect
from typing import Any

from x2softmax.losses.adaface import AdaFace
from x2softmax.losses.additive import ArcFace, CosFace
from x2softmax.losses.base import MarginLoss
from x2softmax.losses.curricularface import CurricularFace
from x2softmax.losses.elastic import ElasticArcFace, ElasticArcFacePlus, ElasticCosFace, ElasticCosFacePlus
from x2softmax.losses.magface import MagFace
from x2softmax.losses.plain import NormFace, Softmax
from x2softmax.losses.sphereface import SphereFace
from x2softmax.losses.x2softmax import X2Softmax

LOSSES: dict[str, type[MarginLoss]] = {
    cls.name: cls
    for cls in (
        Softmax, NormFace, SphereFace, CosFace, ArcFace, ElasticArcFace, ElasticCosFace, ElasticArcFacePlus,
        ElasticCosFacePlus, MagFace, CurricularFace, AdaFace, X2Softmax,
    )
}


def available_losses() -> list[str]:
    """Registry names of every loss."""
    return list(LOSSES)


def _loss_class(name: str) -> type[MarginLoss]:
    """The class registered under `name`, or a ValueError listing the known names."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known losses: {', '.join(LOSSES)}")
    return LOSSES[name]


def default_hparams(name: str) -> dict[str, Any]:
    """Default hyperparameters of loss `name` (JSON-serialisable)."""
    params = inspect.signature(_loss_class(name).__init__).parameters
    return {key: p.default for key, p in params.items() if key != "self"}


def build_loss(name: str, **hparams: Any) -> MarginLoss:
    """Construct loss `name` with `hparams` over its defaults; unknown or invalid hyperparameters raise ValueError."""
    unknown = sorted(set(hparams) - set(default_hparams(name)))
    if unknown:
        raise ValueError(
            f"{name}: unknown hyperparameter(s) {', '.join(unknown)}; known: {', '.join(default_hparams(name))}"
        )
    return _loss_class(name)(**hparams)
