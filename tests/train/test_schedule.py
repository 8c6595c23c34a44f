"""Learning-rate schedules against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from x2softmax.runspec import ScheduleSettings
from x2softmax.train.schedule import build_scheduler, lr_factor


def test_multistep_milestones_are_epochs_stepped_per_iteration():
    f = lr_factor(ScheduleSettings("multistep", (2, 3), gamma=0.1), steps_per_epoch=5, total_steps=20)
    assert [f(s) for s in (0, 9)] == [1.0, 1.0]
    assert f(10) == pytest.approx(0.1) and f(14) == pytest.approx(0.1)
    assert f(15) == pytest.approx(0.01) and f(19) == pytest.approx(0.01)


def test_multistep_with_warmup():
    f = lr_factor(ScheduleSettings("multistep", (2,), gamma=0.5, warmup_epochs=1), 4, 12)
    assert [f(s) for s in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert f(8) == 0.5


def test_poly_with_linear_warmup_and_power():
    f = lr_factor(ScheduleSettings("poly", power=1.0, warmup_epochs=1), steps_per_epoch=2, total_steps=10)
    assert [f(s) for s in range(4)] == [0.0, 0.5, 1.0, pytest.approx(7 / 8)]
    assert f(9) == pytest.approx(1 / 8)
    g = lr_factor(ScheduleSettings("poly", power=2.0, warmup_epochs=0), steps_per_epoch=5, total_steps=10)
    assert g(0) == 1.0 and g(5) == pytest.approx(0.25)


def test_scheduler_drives_the_optimizer_per_iteration():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = build_scheduler(opt, ScheduleSettings("multistep", (1,), gamma=0.1), 3, 6)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.1, 0.1, 0.1, 0.01, 0.01, 0.01])


@pytest.mark.parametrize(
    ("schedule", "match"),
    [({"name": "cosine"}, "unknown lr schedule"), ({"name": "poly", "warmup_epochs": 5}, "warmup")],
)
def test_bad_schedules_are_rejected(schedule, match):
    with pytest.raises(ValueError, match=match):
        lr_factor(ScheduleSettings.from_dict(schedule), 2, 6)
