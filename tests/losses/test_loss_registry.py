"""Registry, defaults, module attributes and hyperparameter validation of the margin losses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from x2softmax.losses import SUBJECT, available_losses, build_loss, default_hparams, display_names
from x2softmax.losses.base import LOSSES, MarginLoss, register_loss

REQUIRED = [  # the losses the paper compares (spec: paper.md)
    "softmax", "normface", "sphereface", "cosface", "arcface", "elasticface_arc", "elasticface_cos",
    "elasticface_arc_plus", "elasticface_cos_plus", "magface", "curricularface", "adaface", "x2softmax",
]


def test_registry_lists_every_required_loss() -> None:
    assert set(REQUIRED) <= set(available_losses())


def test_every_loss_carries_its_display_name_and_paper_and_one_is_the_subject() -> None:
    """Registered where defined: each class names its display name and paper; X2-Softmax is the subject loss."""
    names = display_names()
    assert list(names) == available_losses() and all(names.values()) and len(set(names.values())) == len(names)
    assert all(LOSSES[name].paper for name in names)
    assert SUBJECT == "x2softmax" and names[SUBJECT] == "X2-Softmax"
    assert LOSSES[SUBJECT].paper.startswith("Xu et al. 2023")


def test_the_display_names_are_the_methods_of_the_published_numbers() -> None:
    """Every method of reference_numbers.csv is a registered loss's display name (the reference lookup's key)."""
    import pandas as pd

    from x2softmax.report.summaries import REFERENCE_COLUMNS

    reference = pd.read_csv(Path(__file__).resolve().parents[2] / "config/reference_numbers.csv")
    assert set(REFERENCE_COLUMNS) <= set(reference.columns)
    assert set(reference["method"]) <= set(display_names().values())


def test_a_loss_class_without_its_names_or_with_a_taken_name_is_refused() -> None:
    class Nameless(MarginLoss):
        name = "nameless"

    with pytest.raises(ValueError, match="Nameless.*must set display_name"):
        register_loss(Nameless)

    class Twin(MarginLoss):
        name, display_name, paper = "arcface", "Twin", "none"

    with pytest.raises(ValueError, match="'arcface'.*already registered by x2softmax.losses.additive"):
        register_loss(Twin)


@pytest.mark.parametrize("name", available_losses())
def test_defaults_are_json_and_build(name: str) -> None:
    defaults = default_hparams(name)
    assert json.loads(json.dumps(defaults)) == defaults
    loss = build_loss(name, **defaults)
    assert loss.name == name
    assert loss.needs_norms == (name in {"sphereface", "magface", "adaface"})
    assert loss.raw_logits == (name == "softmax")
    expected_scale = 1.0 if name in {"softmax", "sphereface"} else defaults["s"]
    assert loss.scale == expected_scale


@pytest.mark.parametrize(
    ("name", "gradient"),
    [("x2softmax", "straight_through"), ("arcface", "straight_through"), ("elasticface_arc", "straight_through"),
     ("elasticface_cos_plus", "straight_through"), ("cosface", "straight_through"), ("magface", "exact")],
)
def test_default_gradient_modes(name: str, gradient: str) -> None:
    assert default_hparams(name)["gradient"] == gradient


def test_paper_defaults() -> None:
    assert default_hparams("x2softmax") == {
        "s": 64.0, "a": -0.9, "h": 0.0, "k": 0.65, "gradient": "straight_through",
        "allow_negative_margin": False, "allow_non_monotone": False,
    }
    assert default_hparams("elasticface_arc_plus")["sigma"] == 0.0175
    assert default_hparams("elasticface_cos_plus")["sigma"] == 0.02


def test_unknown_loss_name() -> None:
    with pytest.raises(ValueError, match="unknown loss 'lsoftmax'"):
        build_loss("lsoftmax")
    with pytest.raises(ValueError, match="unknown loss"):
        default_hparams("nope")


def test_unknown_hparam_names_loss_and_key() -> None:
    with pytest.raises(ValueError, match=r"arcface: unknown hyperparameter\(s\) margin"):
        build_loss("arcface", margin=0.5)


@pytest.mark.parametrize(
    ("name", "hparams", "match"),
    [
        ("x2softmax", {"a": -0.2}, r"x2softmax: hyperparameter a=-0\.2 gives a negative margin.*a <= -0\.27"),
        ("x2softmax", {"k": 1.2}, r"x2softmax: hyperparameter k=1\.2 gives a negative margin"),
        ("x2softmax", {"h": 0.3}, r"x2softmax: hyperparameters a=-0\.9, h=0\.3 .*not decreasing"),
        ("x2softmax", {"a": 0.0}, r"not decreasing"),
        ("x2softmax", {"gradient": "detached"}, r"x2softmax: hyperparameter gradient='detached'"),
        ("x2softmax", {"allow_negative_margin": "yes"}, r"allow_negative_margin='yes'"),
        ("arcface", {"s": 0.0}, r"arcface: hyperparameter s=0\.0 must lie in"),
        ("arcface", {"m": -0.1}, r"arcface: hyperparameter m=-0\.1"),
        ("cosface", {"m": float("nan")}, r"cosface: hyperparameter m=nan must be a finite number"),
        ("elasticface_arc", {"sigma": -1.0}, r"elasticface_arc: hyperparameter sigma=-1\.0"),
        ("sphereface", {"m": 2.5}, r"sphereface: hyperparameter m=2\.5 must be a positive integer"),
        ("magface", {"u_a": 5.0}, r"magface: hyperparameter u_a=5\.0"),
        ("adaface", {"m": "0.4"}, r"adaface: hyperparameter m='0\.4' must be a finite number"),
        ("curricularface", {"t_alpha": 2.0}, r"curricularface: hyperparameter t_alpha=2\.0"),
    ],
)
def test_invalid_hparams_raise(name: str, hparams: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_loss(name, **hparams)


def test_invalid_x2_allowed_explicitly() -> None:
    assert build_loss("x2softmax", a=-0.2, allow_negative_margin=True).a == -0.2
    assert build_loss("x2softmax", h=0.3, allow_non_monotone=True).h == 0.3
