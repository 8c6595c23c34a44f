"""The classifier head on one process: plain margin loss, softmax, partial FC."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from x2softmax.losses import build_loss
from x2softmax.train.head import ShardedHead, shard_range

torch.set_num_threads(1)


def _head(loss_name: str = "cosface", classes: int = 6, dim: int = 5, rate: float = 1.0, **hparams) -> ShardedHead:
    return ShardedHead(build_loss(loss_name, **hparams), classes, dim, rate, generator=torch.Generator().manual_seed(0))


def _loss_and_grads(head: ShardedHead, emb: torch.Tensor, labels: torch.Tensor):
    emb = emb.clone().requires_grad_(True)
    head.zero_grad()
    loss, acc = head(emb, labels)
    loss.backward()
    return loss.detach(), acc, emb.grad, head.weight.grad.clone()


def test_plain_head_is_the_margin_loss_on_normalised_cosines():
    torch.manual_seed(1)
    head = _head("arcface", s=32.0, m=0.5)
    emb, labels = torch.randn(7, 5), torch.tensor([0, 1, 2, 3, 4, 5, 0])
    loss, acc = head(emb, labels)
    cosine = F.linear(F.normalize(emb), F.normalize(head.weight))
    torch.testing.assert_close(loss, head.loss(cosine, labels))
    assert acc == (cosine.argmax(1) == labels).float().mean()
    assert head.weight.std().item() == pytest.approx(0.01, rel=0.5)


def test_softmax_head_uses_raw_logits():
    torch.manual_seed(2)
    head = _head("softmax")
    emb, labels = torch.randn(4, 5), torch.tensor([0, 1, 2, 3])
    loss, _ = head(emb, labels)
    torch.testing.assert_close(loss, F.cross_entropy(emb @ head.weight.T, labels))


def test_partial_fc_with_all_classes_sampled_equals_full_head():
    torch.manual_seed(3)
    emb, labels = torch.randn(12, 5), torch.arange(12) % 6  # every class is a positive, so all are kept
    full = _loss_and_grads(_head(rate=1.0), emb, labels)
    sampled = _loss_and_grads(_head(rate=0.5), emb, labels)
    for a, b in zip(full, sampled, strict=True):
        torch.testing.assert_close(a, b)


def test_partial_fc_keeps_positives_and_samples_the_rest():
    torch.manual_seed(4)
    head = _head(classes=20, rate=0.5)
    emb, labels = torch.randn(3, 5), torch.tensor([2, 17, 2])
    _, _, _, grad = _loss_and_grads(head, emb, labels)
    touched = torch.nonzero(grad.abs().sum(1)).squeeze(1).tolist()
    assert len(touched) == 10 and {2, 17} <= set(touched)


def test_shard_ranges_cover_all_classes():
    ranges = [shard_range(10, r, 3) for r in range(3)]
    assert ranges == [(0, 4), (4, 3), (7, 3)]


def test_bad_head_settings():
    with pytest.raises(ValueError, match="partial_fc"):
        _head(rate=0.0)
