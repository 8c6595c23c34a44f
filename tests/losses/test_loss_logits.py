"""Forward values of every margin loss against hand-computed logits, shard rows (label −1) and numerics."""

from __future__ import annotations

import math

import pytest
import torch

from x2softmax.losses import available_losses, build_loss

COS = torch.tensor([[0.8, 0.1, -0.3], [0.2, 0.6, -0.9], [-0.5, 0.4, 0.7]])
LABELS = torch.tensor([0, 1, 2])
NORMS = torch.tensor([5.0, 30.0, 60.0])


def expected(s: float, target_values: list[float]) -> torch.Tensor:
    """s·COS with each row's target replaced by s·target."""
    out = COS.clone().double() * s
    for i, (y, v) in enumerate(zip(LABELS.tolist(), target_values)):
        out[i, y] = s * v
    return out.float()


def targets() -> list[float]:
    return [COS[i, y].item() for i, y in enumerate(LABELS.tolist())]


def test_softmax_returns_raw_logits() -> None:
    raw = torch.tensor([[3.0, -7.5], [120.0, 0.25]])
    assert torch.equal(build_loss("softmax").margin_logits(raw, torch.tensor([1, 0])), raw)


def test_normface() -> None:
    torch.testing.assert_close(build_loss("normface", s=10.0).margin_logits(COS, LABELS), COS * 10.0)


def test_cosface() -> None:
    loss = build_loss("cosface", s=30.0, m=0.35)
    torch.testing.assert_close(loss.margin_logits(COS, LABELS), expected(30.0, [c - 0.35 for c in targets()]))


@pytest.mark.parametrize("gradient", ["straight_through", "exact"])
def test_arcface(gradient: str) -> None:
    loss = build_loss("arcface", s=64.0, m=0.5, gradient=gradient)
    want = [math.cos(math.acos(c) + 0.5) for c in targets()]
    torch.testing.assert_close(loss.margin_logits(COS, LABELS), expected(64.0, want))


NEAR_PI = [-0.999, -0.97, -0.95, -0.9, -0.8]  # θ from 177° down to 143°: θ + 0.5 > π for all but the last


@pytest.mark.parametrize("gradient", ["straight_through", "exact"])
@pytest.mark.parametrize("name", ["arcface", "elasticface_arc", "elasticface_arc_plus"])
def test_arc_margin_is_unguarded_by_default_near_pi(name: str, gradient: str) -> None:
    """Default: s·cos(θ + m) for every θ, as the authors' ArcFace (arccos, + m, cos) and current arcface_torch."""
    loss = build_loss(name, s=2.0, m=0.5, gradient=gradient).eval()
    cos = torch.tensor([[c, 0.1] for c in NEAR_PI])
    out = loss.margin_logits(cos, torch.zeros(len(NEAR_PI), dtype=torch.long))
    want = torch.tensor([2.0 * math.cos(math.acos(c) + 0.5) for c in NEAR_PI])
    torch.testing.assert_close(out[:, 0], want, atol=1e-5, rtol=0)
    assert out[0, 0] > out[2, 0]  # unguarded: the target logit rises again past π − m


@pytest.mark.parametrize("gradient", ["straight_through", "exact"])
@pytest.mark.parametrize("name", ["arcface", "elasticface_arc"])
def test_arc_margin_pi_guard_option(name: str, gradient: str) -> None:
    """pi_guard=True: cos θ − m·sin m where θ + m > π (old insightface), cos(θ + m) elsewhere."""
    loss = build_loss(name, s=1.0, m=0.5, gradient=gradient, pi_guard=True).eval()
    cos = torch.tensor([[c, 0.1] for c in NEAR_PI])
    out = loss.margin_logits(cos, torch.zeros(len(NEAR_PI), dtype=torch.long))
    want = [c - math.sin(math.pi - 0.5) * 0.5 if math.acos(c) + 0.5 > math.pi else math.cos(math.acos(c) + 0.5)
            for c in NEAR_PI]
    torch.testing.assert_close(out[:, 0], torch.tensor(want), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="pi_guard=1 must be true or false"):
        build_loss(name, pi_guard=1)


@pytest.mark.parametrize("gradient", ["straight_through", "exact"])
def test_x2softmax(gradient: str) -> None:
    loss = build_loss("x2softmax", s=64.0, a=-0.9, h=0.0, k=0.65, gradient=gradient)
    want = [-0.9 * math.acos(c) ** 2 + 0.65 for c in targets()]
    torch.testing.assert_close(loss.margin_logits(COS, LABELS), expected(64.0, want))


def test_x2softmax_with_shift() -> None:
    loss = build_loss("x2softmax", s=2.0, a=-0.5, h=-0.2, k=0.6)
    want = [-0.5 * (math.acos(c) + 0.2) ** 2 + 0.6 for c in targets()]
    torch.testing.assert_close(loss.margin_logits(COS, LABELS), expected(2.0, want))


def test_sphereface_annealed_target_and_norm_scale() -> None:
    loss = build_loss("sphereface", m=4)
    out = loss.margin_logits(COS, LABELS, NORMS)
    lam = max(5.0, 1000.0 / (1.0 + 0.12 * 1))
    want = torch.tensor(COS.tolist()) * NORMS[:, None]
    for i, y in enumerate(LABELS.tolist()):
        c = COS[i, y].item()
        theta = math.acos(c)
        k = math.floor(4 * theta / math.pi)
        psi = (-1) ** k * math.cos(4 * theta) - 2 * k
        want[i, y] = NORMS[i] * (c + (psi - c) / (1 + lam))
    torch.testing.assert_close(out, want)
    assert int(loss.iteration) == 1


def test_sphereface_psi_pieces() -> None:
    loss = build_loss("sphereface", m=4)
    theta = torch.tensor([0.0, math.pi / 8, math.pi / 4 + 0.1, math.pi / 2 + 0.1, math.pi], dtype=torch.float64)
    psi = loss.fixed_target(torch.cos(theta))
    want = [1.0, math.cos(math.pi / 2), -math.cos(math.pi + 0.4) - 2, math.cos(2 * math.pi + 0.4) - 4, -7.0]
    torch.testing.assert_close(psi, torch.tensor(want, dtype=torch.float64), atol=1e-6, rtol=0)


def test_elastic_eval_mode_uses_mean_margin() -> None:
    arc = build_loss("elasticface_arc", s=64.0, m=0.5).eval()
    torch.testing.assert_close(arc.margin_logits(COS, LABELS), build_loss("arcface").margin_logits(COS, LABELS))
    cos_plus = build_loss("elasticface_cos_plus", s=64.0, m=0.35).eval()
    torch.testing.assert_close(cos_plus.margin_logits(COS, LABELS), build_loss("cosface").margin_logits(COS, LABELS))


def test_elastic_zero_sigma_equals_fixed_margin() -> None:
    loss = build_loss("elasticface_cos", m=0.35, sigma=0.0)
    torch.testing.assert_close(loss.margin_logits(COS, LABELS), build_loss("cosface").margin_logits(COS, LABELS))


def test_magface() -> None:
    loss = build_loss("magface", s=64.0)
    out = loss.margin_logits(COS, LABELS, NORMS)
    margins = [0.45 + (0.8 - 0.45) / 100.0 * (min(max(n, 10.0), 110.0) - 10.0) for n in NORMS.tolist()]
    want = []
    for c, m in zip(targets(), margins):
        want.append(math.cos(math.acos(c) + m) if c > math.cos(math.pi - m) else c - math.sin(math.pi - m) * m)
    torch.testing.assert_close(out, expected(64.0, want))
    g = [1 / a + a / 110.0**2 for a in (10.0, 30.0, 60.0)]
    assert loss.extra_loss(NORMS).item() == pytest.approx(35.0 * sum(g) / 3, rel=1e-6)


def test_curricularface_hard_negatives() -> None:
    loss = build_loss("curricularface", s=10.0, m=0.5, t_alpha=0.5)
    cos = torch.tensor([[0.5, 0.45, -0.2, 0.0]])
    out = loss.margin_logits(cos, torch.tensor([0]))
    t = 0.5 * 0.5
    assert float(loss.t) == pytest.approx(t)
    shifted = math.cos(math.acos(0.5) + 0.5)  # 0.0222: 0.45 is hard, -0.2 and 0.0 are not
    assert shifted < 0.45
    want = torch.tensor([[10 * shifted, 10 * 0.45 * (t + 0.45), -2.0, 0.0]])
    torch.testing.assert_close(out, want)


def test_adaface() -> None:
    loss = build_loss("adaface", s=64.0, m=0.4, h=0.333, t_alpha=0.01)
    out = loss.margin_logits(COS, LABELS, NORMS)
    n = NORMS.double()
    mean = 0.01 * n.mean().item() + 0.99 * 20.0
    std = 0.01 * n.std().item() + 0.99 * 100.0
    assert float(loss.batch_mean) == pytest.approx(mean, rel=1e-6)
    want = []
    for c, norm in zip(targets(), NORMS.tolist()):
        z = max(-1.0, min(1.0, 0.333 * (norm - mean) / (std + 1e-3)))
        theta = min(max(math.acos(c) - 0.4 * z, 1e-3), math.pi - 1e-3)
        want.append(math.cos(theta) - (0.4 + 0.4 * z))
    torch.testing.assert_close(out, expected(64.0, want))


@pytest.mark.parametrize("name", sorted(set(available_losses()) - {"softmax", "normface"}))
def test_label_minus_one_rows_are_only_scaled(name: str) -> None:
    torch.manual_seed(0)
    loss = build_loss(name)
    labels = torch.tensor([0, -1, 2])
    out = loss.margin_logits(COS, labels, NORMS)
    row_scale = NORMS[1] if name == "sphereface" else loss.scale
    torch.testing.assert_close(out[1], COS[1] * row_scale)
    assert not torch.allclose(out[0, 0], COS[0, 0] * (NORMS[0] if name == "sphereface" else loss.scale))


@pytest.mark.parametrize("name", available_losses())
def test_half_inputs_and_extreme_angles_give_finite_fp32(name: str) -> None:
    torch.manual_seed(0)
    loss = build_loss(name)
    cos = torch.tensor([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.5], [0.0, -1.0, 1.0]], dtype=torch.float16, requires_grad=True)
    norms = torch.tensor([1e-6, 30.0, 500.0], dtype=torch.float16, requires_grad=True)
    logits = loss.margin_logits(cos, torch.tensor([0, 0, 2]), norms)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()
    (torch.nn.functional.cross_entropy(logits, torch.tensor([0, 0, 2])) + loss.extra_loss(norms)).backward()
    assert torch.isfinite(cos.grad).all()


@pytest.mark.parametrize("name", ["arcface", "x2softmax", "magface"])
def test_bad_inputs_raise(name: str) -> None:
    loss = build_loss(name)
    with pytest.raises(ValueError, match=rf"{name}: labels must have shape \[3\]"):
        loss.margin_logits(COS, torch.tensor([0, 1]), NORMS)
    with pytest.raises(ValueError, match=rf"{name}: labels must lie in \[-1, 2\]"):
        loss.margin_logits(COS, torch.tensor([0, 3, 1]), NORMS)
    with pytest.raises(ValueError, match=rf"{name}: cosine must be a \[N, C\] matrix"):
        loss.margin_logits(COS[0], LABELS, NORMS)
    with pytest.raises(ValueError, match=rf"{name}: labels must be integers"):
        loss.margin_logits(COS, LABELS.float(), NORMS)


def test_missing_norms_raise() -> None:
    with pytest.raises(ValueError, match="magface: needs the feature norms"):
        build_loss("magface").margin_logits(COS, LABELS)
    with pytest.raises(ValueError, match=r"adaface: norms must have shape \[3\] or \[3, 1\]"):
        build_loss("adaface").margin_logits(COS, LABELS, torch.ones(3, 2))


def test_norms_as_column_accepted() -> None:
    loss = build_loss("magface")
    torch.testing.assert_close(loss.margin_logits(COS, LABELS, NORMS[:, None]), loss.margin_logits(COS, LABELS, NORMS))


def test_forward_is_cross_entropy_plus_extra() -> None:
    loss = build_loss("magface")
    want = torch.nn.functional.cross_entropy(loss.margin_logits(COS, LABELS, NORMS), LABELS) + loss.extra_loss(NORMS)
    torch.testing.assert_close(loss(COS, LABELS, NORMS), want)


@pytest.mark.parametrize("name", ["x2softmax", "arcface", "adaface", "softmax"])
def test_autocast_keeps_fp32(name: str) -> None:
    loss = build_loss(name).eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = loss.margin_logits(COS.bfloat16(), LABELS, NORMS.bfloat16())
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits, loss.margin_logits(COS.bfloat16().float(), LABELS, NORMS.bfloat16().float()))
