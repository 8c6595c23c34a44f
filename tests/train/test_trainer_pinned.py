"""The tiny CPU run pinned: weights and logged values of the trainer as they were before its loop stopped reading
the device every step (issue 22). A change that moves a single bit of the CPU path fails here.

The pins were computed on this project's x86-64 CPU machines (torch 2.13, AVX512 kernels, one thread) and are
compared bit for bit there. Elsewhere (another torch build or CPU kernel set, which may round differently) the
logged values must agree to 1e-4 and the skipped steps exactly: a weaker check, never a skip.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from x2softmax.train.trainer import train

PINNED = {
    "none": {
        "backbone": "fd9f65c3e92053ef4fd3f2d07d12e31b1103e753ac2bd8c60104f54f9fb97227",
        "lines": "e2f7ae19085cee3dd9a8b06bfea0b4d864bdc0a56fb4de28fed4aad74e61962b",
        "loss_acc": [(4.798583149909973, 0.4583333333333333), (1.9135971466700237, 0.8333333333333334),
                     (0.21738948921362558, 1.0), (0.2747395726231237, 0.9583333333333334)],
        "skipped_steps": 0,
    },
    "fp16": {
        "backbone": "9e7d546cdb7350bb80983d3bd91ce164017edef1efcadd8e8fff3a60f64e6ead",
        "lines": "8bc695d64c3533b983794e03f8b3c8ac4339671672f7d4bdd24bb474cc55be1a",
        "loss_acc": [(10.162564754486084, 0.08333333333333333), (4.4248084624608355, 0.5833333333333334),
                     (0.34768822975456715, 0.9583333333333334), (0.013233443062442044, 1.0)],
        "skipped_steps": 3,
    },
}
AMP = {"none": {}, "fp16": {"amp": "fp16", "scaler_growth_interval": 3}}
PINNED_ON = ("2.13.0+cpu", "AVX512")  # torch.__version__, torch.backends.cpu.get_cpu_capability()


def _weights_sha256(path: Path) -> str:
    state = torch.load(path, weights_only=True)
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].contiguous().numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("amp", sorted(PINNED))
def test_cpu_run_is_bit_identical_to_the_pinned_run(tmp_path, make_spec, amp):
    summary = train(make_spec(train=AMP[amp]), tmp_path / "out", tmp_path / "ckpt")
    lines = [json.loads(x) for x in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    for line in lines:
        line.pop("images_per_s")  # a wall-clock rate
    pinned = PINNED[amp]
    assert summary["skipped_steps"] == pinned["skipped_steps"]
    if (torch.__version__, torch.backends.cpu.get_cpu_capability()) != PINNED_ON:
        assert [(x["loss"], x["acc"]) for x in lines] == [(pytest.approx(loss, rel=1e-4), acc)
                                                          for loss, acc in pinned["loss_acc"]]
        return
    assert [(x["loss"], x["acc"]) for x in lines] == pinned["loss_acc"]
    assert hashlib.sha256(json.dumps(lines, sort_keys=True).encode()).hexdigest() == pinned["lines"]
    assert _weights_sha256(tmp_path / "out" / "backbone.pt") == pinned["backbone"]
