"""State of the margin losses: buffers in state_dict, updates only in training mode, seeded elastic margins."""

from __future__ import annotations

import math

import pytest
import torch

from x2softmax.losses import build_loss

COS = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.3, -0.1], [0.1, -0.4, 0.6], [0.5, 0.4, 0.3]])
LABELS = torch.tensor([0, 1, 2, 0])
NORMS = torch.tensor([8.0, 20.0, 33.0, 70.0])

STATEFUL = {"sphereface": ["iteration"], "curricularface": ["t"], "adaface": ["batch_mean", "batch_std"]}


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_state_dict_round_trip(name: str) -> None:
    trained = build_loss(name)
    for _ in range(3):
        trained.margin_logits(COS, LABELS, NORMS)
    state = trained.state_dict()
    assert sorted(state) == sorted(STATEFUL[name])
    fresh = build_loss(name)
    assert any(not torch.equal(fresh.state_dict()[k], v) for k, v in state.items())
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.margin_logits(COS, LABELS, NORMS), trained.margin_logits(COS, LABELS, NORMS))


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_eval_mode_does_not_update_state(name: str) -> None:
    loss = build_loss(name).eval()
    before = {k: v.clone() for k, v in loss.state_dict().items()}
    loss.margin_logits(COS, LABELS, NORMS)
    for key, value in loss.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_sphereface_lambda_anneals_to_minimum() -> None:
    loss = build_loss("sphereface")
    assert loss.current_lambda() == 1000.0
    loss.iteration.fill_(10)
    assert loss.current_lambda() == pytest.approx(1000.0 / 2.2)
    loss.iteration.fill_(100_000)
    assert loss.current_lambda() == 5.0


def test_curricular_t_ignores_rows_of_other_shards() -> None:
    loss = build_loss("curricularface", t_alpha=1.0)
    loss.margin_logits(COS, torch.tensor([0, -1, -1, -1]))
    assert float(loss.t) == pytest.approx(0.9)
    loss.margin_logits(COS, torch.tensor([-1, -1, -1, -1]))
    assert float(loss.t) == pytest.approx(0.9)


@pytest.mark.parametrize("name", ["elasticface_arc", "elasticface_cos", "elasticface_arc_plus", "elasticface_cos_plus"])
def test_elastic_margins_deterministic_under_seed(name: str) -> None:
    loss = build_loss(name)
    torch.manual_seed(7)
    first = loss.margin_logits(COS, LABELS)
    second_draw = loss.margin_logits(COS, LABELS)
    torch.manual_seed(7)
    again = loss.margin_logits(COS, LABELS)
    torch.testing.assert_close(first, again)
    assert not torch.equal(first, second_draw)


def test_elastic_margins_follow_normal_draws() -> None:
    loss = build_loss("elasticface_cos", s=1.0, m=0.35, sigma=0.05)
    torch.manual_seed(3)
    out = loss.margin_logits(COS, LABELS)
    torch.manual_seed(3)
    draws = torch.normal(0.35, 0.05, size=(4,))
    got = COS[torch.arange(4), LABELS] - out[torch.arange(4), LABELS]
    torch.testing.assert_close(got, draws)


def test_elastic_plus_gives_larger_margins_to_farther_samples() -> None:
    loss = build_loss("elasticface_cos_plus", s=1.0, sigma=0.1)
    cos_y = torch.tensor([0.2, 0.9, -0.3, 0.5, 0.0])
    torch.manual_seed(11)
    margins = loss.draw_margins(cos_y)
    torch.manual_seed(11)
    draws = torch.normal(0.35, 0.1, size=(5,))
    torch.testing.assert_close(margins.sort().values, draws.sort().values)
    by_angle = margins[torch.argsort(torch.arccos(cos_y))]
    assert torch.all(by_angle[1:] >= by_angle[:-1])


def test_elastic_plus_assignment_in_logits() -> None:
    loss = build_loss("elasticface_arc_plus", s=1.0, sigma=0.2)
    torch.manual_seed(5)
    out = loss.margin_logits(COS, LABELS)
    cos_y = COS[torch.arange(4), LABELS]
    margin = torch.arccos(out[torch.arange(4), LABELS]) - torch.arccos(cos_y)
    order = torch.argsort(torch.arccos(cos_y))
    assert torch.all(margin[order][1:] >= margin[order][:-1] - 1e-5)
    assert not math.isclose(margin.min().item(), margin.max().item())
