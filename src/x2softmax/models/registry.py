"""Backbone registry: build a backbone by name, load a trained one from disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from x2softmax.models.backbones import BACKBONES
from x2softmax.models.iresnet import IResNet
from x2softmax.torchfile import load_plain


def build_backbone(name: str, embedding_size: int = 512, input_size: int = 112, dropout: float = 0.0) -> nn.Module:
    """Build an untrained iResNet backbone by registry name."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known backbones: {', '.join(BACKBONES)}")
    if embedding_size < 1 or input_size < 1 or not 0.0 <= dropout < 1.0:
        raise ValueError(
            f"invalid backbone settings: embedding_size={embedding_size}, input_size={input_size}, dropout={dropout}"
        )
    layers, widths = BACKBONES[name]
    return IResNet(layers, widths, embedding_size=embedding_size, input_size=input_size, dropout=dropout)


def _model_spec_from_summary(path: Path) -> dict[str, Any]:
    """The `spec.model` block of the summary.json beside a backbone file."""
    summary_path = path.parent / "summary.json"
    if not summary_path.is_file():
        raise FileNotFoundError(f"{summary_path}: missing; pass the backbone name to load {path} without a summary")
    try:
        model_spec = json.loads(summary_path.read_text())["spec"]["model"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{summary_path}: no readable spec.model block ({err})") from None
    if not isinstance(model_spec, dict):
        raise ValueError(f"{summary_path}: spec.model is a {type(model_spec).__name__}, not a mapping")
    return _checked_model_spec(dict(model_spec), summary_path)


_MODEL_FIELDS = {"embedding_size": (int, 1, 1 << 16), "input_size": (int, 8, 1 << 12), "dropout": (float, 0.0, 1.0)}


def _checked_model_spec(spec: dict[str, Any], source: Path) -> dict[str, Any]:
    """Types and ranges of a model record's fields, checked before anything is built from them."""
    if spec.get("backbone") not in BACKBONES:
        raise ValueError(f"{source}: spec.model.backbone is {spec.get('backbone')!r}, not one of {', '.join(BACKBONES)}")
    for key, (kind, low, high) in _MODEL_FIELDS.items():
        if key not in spec:
            continue
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or not (
                low <= value <= high):
            raise ValueError(f"{source}: spec.model.{key} is {value!r}, expected {kind.__name__} in [{low}, {high}]")
    return spec


def load_backbone(
    path: Path,
    name: str | None = None,
    embedding_size: int | None = None,
    input_size: int | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Load a backbone state_dict (ours or arcface_torch's); return the model in eval mode and its model spec."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: backbone file not found")
    spec: dict[str, Any] = _model_spec_from_summary(path) if name is None else {"backbone": name}
    if embedding_size is not None:
        spec["embedding_size"] = embedding_size
    if input_size is not None:
        spec["input_size"] = input_size
    state = load_plain(path)  # weights_only: a pickle asking for code is refused, never run
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise ValueError(f"{path}: not an iResNet state_dict (no fc.weight)")
    rows = int(state["fc.weight"].shape[0])
    if spec.setdefault("embedding_size", rows) != rows:  # before a model of that size is built
        raise ValueError(f"{path}: fc.weight has {rows} rows but the model record says embedding_size "
                         f"{spec['embedding_size']}")
    spec.setdefault("input_size", 112)
    spec.setdefault("dropout", 0.0)
    model = build_backbone(spec["backbone"], spec["embedding_size"], spec["input_size"], spec["dropout"])
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path}: state_dict does not fit backbone {spec}: {err}") from err
    return model.eval(), spec
