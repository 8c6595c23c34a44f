"""The saturation diagnostic: target log-probabilities in float64 from the loss's final logits, their statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from x2softmax.losses import build_loss
from x2softmax.train.head import ShardedHead
from x2softmax.train.saturation import is_saturated, saturation_stats, target_log_probs


def test_known_logits_give_known_log_probs():
    # row 0: two equal logits -> p = 1/2; row 1: target 3 below the other logit -> p = 1/(1 + e^3)
    logits = torch.tensor([[0.0, 0.0], [0.0, 3.0]])
    log_p = target_log_probs(logits, torch.tensor([0, 0]))
    assert log_p.dtype == torch.float64
    np.testing.assert_allclose(log_p.numpy(), [math.log(0.5), -math.log1p(math.exp(3.0))], rtol=1e-15)


def test_underflow_in_float32_is_kept_in_log_space():
    # target logit 200 below the other: float32 softmax gives exactly 0, the diagnostic gives e^-200
    logits = torch.tensor([[-100.0, 100.0]] * 3, dtype=torch.float32)
    assert F.softmax(logits, dim=1)[0, 0].item() == 0.0
    log_p = target_log_probs(logits, torch.tensor([0, 0, 0]))
    np.testing.assert_allclose(log_p.numpy(), [-200.0] * 3, rtol=1e-12)
    stats = saturation_stats(log_p)
    assert stats["target_prob_median"] == pytest.approx(math.exp(-200.0), rel=1e-12)
    assert stats["target_prob_below_1e-6"] == 1.0


def test_median_and_share_below_the_floor():
    log_p = np.log([1e-9, 1e-7, 1e-3, 0.2, 0.9])
    stats = saturation_stats(log_p)
    assert stats["target_prob_median"] == pytest.approx(1e-3, rel=1e-12)
    assert stats["target_prob_below_1e-6"] == pytest.approx(2 / 5)
    with pytest.raises(ValueError, match="at least one sample"):
        saturation_stats(np.array([]))


def test_labels_on_another_shard_are_skipped_like_the_cross_entropy():
    logits = torch.tensor([[1.0, 2.0, 0.5]])
    # on one process every label is here; the -1 convention only appears with several ranks, where the target
    # logit is summed over ranks: a lone -1 row has a target logit of 0
    np.testing.assert_allclose(target_log_probs(logits, torch.tensor([-1])).numpy(),
                               [-torch.logsumexp(logits.double(), 1).item()])


@pytest.mark.parametrize(("loss_name", "hparams"), [("x2softmax", {"s": 64.0}), ("arcface", {"s": 64.0, "m": 0.5}),
                                                     ("softmax", {})])
def test_head_leaves_the_log_probs_of_its_cross_entropy(loss_name, hparams):
    torch.manual_seed(0)
    head = ShardedHead(build_loss(loss_name, **hparams), 20, 8, generator=torch.Generator().manual_seed(0))
    emb, labels = torch.randn(16, 8), torch.randint(0, 20, (16,))
    loss, _ = head(emb, labels)
    assert head.target_log_prob.shape == (16,)
    # the mean of -log p_y is the cross-entropy the head returns (no extra term for these losses)
    assert -head.target_log_prob.mean().item() == pytest.approx(loss.item(), rel=1e-5)


@pytest.mark.parametrize(("loss", "below", "saturated"), [(9.9, 0.049, False), (10.0, 0.0, True), (1.0, 0.05, True),
                                                          (float("nan"), 0.0, True)])
def test_saturated_thresholds(loss, below, saturated):
    assert is_saturated(loss, below) is saturated
