"""Gradients of the margin losses: straight-through closed form, exact mode against closed forms and differences."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from x2softmax.losses import available_losses, build_loss, default_hparams

COS = torch.tensor([[0.7, 0.2, -0.4, 0.1], [0.3, 0.5, -0.2, 0.45], [-0.6, 0.1, 0.25, 0.05]])
LABELS = torch.tensor([0, 1, 3])
NORMS = torch.tensor([12.0, 40.0, 95.0])


def loss_and_grad(
    name: str, cos: torch.Tensor = COS, labels: torch.Tensor = LABELS, norms: torch.Tensor = NORMS, **hparams
) -> tuple:
    """(logits, dL/dcos) for the mean cross-entropy of a loss."""
    loss = build_loss(name, **hparams).eval()
    x = cos.clone().requires_grad_()
    logits = loss.margin_logits(x, labels, norms)
    F.cross_entropy(logits, labels).backward()
    return logits.detach(), x.grad


@pytest.mark.parametrize(
    "name", ["x2softmax", "arcface", "cosface", "elasticface_arc", "elasticface_cos_plus", "magface", "curricularface"]
)
def test_straight_through_gradient_is_s_times_p_minus_onehot(name: str) -> None:
    logits, grad = loss_and_grad(name, gradient="straight_through")
    s = build_loss(name).scale
    want = s * (torch.softmax(logits, dim=1) - F.one_hot(LABELS, 4)) / len(LABELS)
    torch.testing.assert_close(grad, want)


def test_exact_x2_gradient_matches_closed_form() -> None:
    s, a, h, k = 64.0, -0.9, 0.0, 0.65
    logits, grad = loss_and_grad("x2softmax", gradient="exact", s=s, a=a, h=h, k=k)
    p = torch.softmax(logits, dim=1)
    want = s * (p - F.one_hot(LABELS, 4)) / len(LABELS)
    for i, y in enumerate(LABELS.tolist()):
        theta = math.acos(COS[i, y].item())
        df_dcos = -2 * a * (theta - h) / math.sin(theta)
        want[i, y] = want[i, y] * df_dcos
    torch.testing.assert_close(grad, want)


def test_exact_arcface_gradient_matches_closed_form() -> None:
    s, m = 64.0, 0.5
    logits, grad = loss_and_grad("arcface", gradient="exact", s=s, m=m)
    p = torch.softmax(logits, dim=1)
    want = s * (p - F.one_hot(LABELS, 4)) / len(LABELS)
    for i, y in enumerate(LABELS.tolist()):
        c = COS[i, y].item()
        df_dcos = math.cos(m) + math.sin(m) * c / math.sqrt(1 - c * c)
        want[i, y] = want[i, y] * df_dcos
    torch.testing.assert_close(grad, want)


@pytest.mark.parametrize(
    ("name", "hparams"),
    [("sphereface", {}), ("magface", {}), ("adaface", {}), ("curricularface", {"gradient": "exact"}),
     ("x2softmax", {"gradient": "exact", "s": 16.0}), ("cosface", {"s": 16.0})],
)
def test_exact_gradient_matches_central_differences(name: str, hparams: dict) -> None:
    """Central differences of the float32 loss (curricular t fixed in eval mode; AdaFace at its initial stats)."""
    _, grad = loss_and_grad(name, **hparams)
    loss = build_loss(name, **hparams).eval()
    step = 1e-3
    for i, j in [(0, 0), (0, 1), (1, 1), (1, 3), (2, 3), (2, 2)]:
        plus, minus = COS.clone(), COS.clone()
        plus[i, j] += step
        minus[i, j] -= step
        diff = (
            F.cross_entropy(loss.margin_logits(plus, LABELS, NORMS), LABELS)
            - F.cross_entropy(loss.margin_logits(minus, LABELS, NORMS), LABELS)
        ).item() / (2 * step)
        assert grad[i, j].item() == pytest.approx(diff, rel=2e-2, abs=2e-3), (i, j)


def test_magface_exact_gradient_reaches_norms() -> None:
    loss = build_loss("magface")
    norms = NORMS.clone().requires_grad_()
    (F.cross_entropy(loss.margin_logits(COS, LABELS, norms), LABELS) + loss.extra_loss(norms)).backward()
    assert torch.all(norms.grad != 0)


def test_modes_agree_on_values_differ_on_gradients() -> None:
    st_logits, st_grad = loss_and_grad("x2softmax", gradient="straight_through")
    ex_logits, ex_grad = loss_and_grad("x2softmax", gradient="exact")
    torch.testing.assert_close(st_logits, ex_logits)
    assert not torch.allclose(st_grad, ex_grad)


def test_gradients_finite_at_theta_zero_and_pi() -> None:
    cos = torch.tensor([[1.0, 0.0], [0.0, -1.0]])
    for name in ["x2softmax", "arcface", "sphereface", "adaface", "magface", "curricularface"]:
        _, grad = loss_and_grad(name, cos=cos, labels=torch.tensor([0, 1]), norms=NORMS[:2], gradient="exact")
        assert torch.isfinite(grad).all(), name


@pytest.mark.parametrize("gradient", ["straight_through", "exact"])
@pytest.mark.parametrize("name", available_losses())
def test_all_local_rows_give_the_same_logits_gradients_and_state(name: str, gradient: str) -> None:
    """`all_local=True` (rows 0..N-1, no read of the labels) is bit-identical to finding the rows with nonzero."""
    results = []
    for all_local in (False, True):
        torch.manual_seed(0)
        hparams = {"gradient": gradient} if "gradient" in default_hparams(name) else {}
        loss = build_loss(name, **hparams).train()
        x = COS.clone().requires_grad_()
        logits = loss.margin_logits(x, LABELS, NORMS, all_local=all_local)
        F.cross_entropy(logits, LABELS).backward()
        results.append((logits.detach(), x.grad, [b.clone() for b in loss.buffers()]))
    (logits_a, grad_a, state_a), (logits_b, grad_b, state_b) = results
    assert torch.equal(logits_a, logits_b) and torch.equal(grad_a, grad_b)
    assert all(torch.equal(a, b) for a, b in zip(state_a, state_b))
