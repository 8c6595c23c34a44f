"""The trainer's device-side tally, its one-ahead batches and the fused-SGD choice (x2softmax.train.stepping)."""

from __future__ import annotations

import math

import numpy as np
import torch

from x2softmax.train import stepping
from x2softmax.train.stepping import FirstNonFinite, StepTally, device_batches, one_ahead, use_fused_sgd

CPU = torch.device("cpu")


def test_the_first_non_finite_value_and_its_step_are_kept():
    record = FirstNonFinite(CPU)
    assert record.read() is None
    for step, value in [(1, 0.5), (2, 1.0), (3, math.nan), (4, 2.0), (5, math.inf)]:
        record.record(torch.tensor(value), step)
    step, value = record.read()
    assert step == 3 and math.isnan(value)


def test_divergence_names_the_earliest_step_and_the_loss_before_the_gradient():
    tally = StepTally(CPU)
    assert tally.divergence() is None
    tally.bad_grad_norm.record(torch.tensor(math.inf), 4)
    tally.bad_loss.record(torch.tensor(math.nan), 4)
    assert tally.divergence() == ("loss is nan", 4)
    tally = StepTally(CPU)
    tally.bad_loss.record(torch.tensor(math.nan), 9)
    tally.bad_grad_norm.record(torch.tensor(-math.inf), 7)
    assert tally.divergence() == ("the gradient norm is -inf (weights updated with it)", 7)


def test_window_sums_equal_the_python_sums_of_the_values_read_every_step():
    values = torch.from_numpy(np.random.default_rng(0).random((50, 2), dtype=np.float32) * 10)
    tally = StepTally(CPU)
    loss_sum, acc_sum = 0.0, 0.0
    for loss, acc in values:
        tally.add(loss, acc)
        loss_value, acc_value = torch.stack([loss, acc]).tolist()
        loss_sum, acc_sum = loss_sum + loss_value, acc_sum + acc_value
    assert tally.take_window() == (loss_sum, acc_sum)  # bit for bit
    assert tally.take_window() == (0.0, 0.0)


def test_skips_are_counted_where_the_scale_fell():
    tally = StepTally(CPU)
    for before, after in [(8.0, 4.0), (4.0, 8.0), (8.0, 8.0), (8.0, 4.0)]:
        tally.count_skip(torch.tensor(before), torch.tensor(after))
    assert int(tally.skipped) == 2


def test_cpu_batches_pass_through_untouched():
    batches = [(torch.zeros(2, 4, 4, 3, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64)) for _ in range(3)]
    out = list(device_batches(iter(batches), CPU))
    assert len(out) == 3 and all(a is b for pair, ref in zip(out, batches) for a, b in zip(pair, ref))
    assert not any(t.is_pinned() for pair in out for t in pair)


def test_each_batch_is_prepared_before_the_previous_one_is_handed_out():
    events = []

    def prepare(item):
        events.append(f"prepare {item}")
        return item

    for item in one_ahead(range(3), prepare):
        events.append(f"use {item}")
    assert events == ["prepare 0", "prepare 1", "use 0", "prepare 2", "use 1", "use 2"]
    assert list(one_ahead([], prepare)) == []


def test_fused_sgd_only_for_fp16_on_cuda_and_only_where_torch_has_it(monkeypatch):
    cuda = torch.device("cuda", 0)
    assert not use_fused_sgd(CPU, torch.float16)
    assert not use_fused_sgd(cuda, None) and not use_fused_sgd(cuda, torch.bfloat16)
    assert use_fused_sgd(cuda, torch.float16) is stepping.fused_sgd_supported()

    class OldSGD:  # an SGD without the `fused` argument
        def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
            pass

    monkeypatch.setattr(torch.optim, "SGD", OldSGD)
    assert not use_fused_sgd(cuda, torch.float16)
