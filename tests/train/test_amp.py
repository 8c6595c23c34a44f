"""The trainer's mixed-precision path on the CPU: fp16 autocast with a grad scaler, as on a GPU."""

from __future__ import annotations

import io
import math

import pytest
import torch

from x2softmax.train import trainer as trainer_module
from x2softmax.train.trainer import train

from .test_trainer import Interrupted, _assert_identical, _stop_at, _weights

FP16 = {"amp": "fp16", "scaler_growth_interval": 3}


def _trainer(make_spec, tmp_path, **train_overrides):
    spec = make_spec(train={**FP16, **train_overrides})
    return trainer_module.Trainer(spec, tmp_path / "out", tmp_path / "ckpt")


def _first_batch(trainer):
    return next(iter(trainer.batches.iterate(0, 0)))


def test_autocast_runs_the_convolutions_in_fp16_and_keeps_loss_and_head_in_fp32(tmp_path, make_spec):
    trainer = _trainer(make_spec, tmp_path)
    seen = {}

    def trunk(module, inputs, out):
        seen.setdefault("conv", out.dtype)

    def head(module, inputs, out):
        seen.update(head_input=inputs[0].dtype, loss=out[0].dtype, weight=module.weight.dtype)

    convs = [m for m in trainer.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    for conv in convs:
        conv.register_forward_hook(trunk)
    trainer.head.register_forward_hook(head)
    trainer.train_step(*_first_batch(trainer))
    assert seen == {"conv": torch.float16, "head_input": torch.float32, "loss": torch.float32,
                    "weight": torch.float32}
    assert trainer.scaler.is_enabled()
    assert all(p.dtype == torch.float32 for p in trainer.backbone.parameters())


def test_an_inf_gradient_skips_the_step_and_halves_the_scale(tmp_path, make_spec):
    trainer = _trainer(make_spec, tmp_path)
    trainer.scaler.load_state_dict({**trainer.scaler.state_dict(), "scale": 128.0})  # no overflow of its own
    images, labels = _first_batch(trainer)
    param = next(trainer.backbone.parameters())
    before = {k: v.detach().clone() for k, v in trainer.backbone.named_parameters()}
    head_before = trainer.head.weight.detach().clone()
    handle = param.register_hook(lambda grad: grad * math.inf)
    scale = trainer.scaler.get_scale()
    trainer.train_step(images, labels)
    handle.remove()
    assert trainer.scaler.get_scale() == scale * 0.5 and trainer.skipped_steps == 1
    for key, value in trainer.backbone.named_parameters():
        torch.testing.assert_close(value.detach(), before[key], rtol=0, atol=0)  # no parameter moved
    torch.testing.assert_close(trainer.head.weight.detach(), head_before, rtol=0, atol=0)
    assert not trainer.optimizer.state  # no momentum buffer was created: the optimizer never stepped
    trainer.train_step(images, labels)
    assert trainer.skipped_steps == 1
    assert not torch.equal(trainer.head.weight.detach(), head_before)


def test_gradients_are_unscaled_before_clipping(tmp_path, make_spec):
    """The clipped norm and the update do not depend on the loss scale: unscale_ runs before clip_grad_norm_."""
    results = []
    for scale in (2.0**2, 2.0**8):  # larger scales overflow fp16 on this tiny net (gradient norm ~100)
        trainer = _trainer(make_spec, tmp_path / str(scale), grad_clip=0.5)
        trainer.scaler.load_state_dict({**trainer.scaler.state_dict(), "scale": scale})
        _, _, grad_norm = trainer.train_step(*_first_batch(trainer))
        results.append((float(grad_norm), trainer.head.weight.detach().clone(),
                        {k: v.clone() for k, v in trainer.backbone.state_dict().items()}))
    (norm_a, head_a, net_a), (norm_b, head_b, net_b) = results
    assert norm_a > 0.5  # the clip is active, so the update depends on the norm the clip saw
    assert norm_b == pytest.approx(norm_a, rel=1e-2)  # scaled norms would differ 64-fold
    torch.testing.assert_close(head_a, head_b, rtol=1e-3, atol=1e-5)
    for key in net_a:
        torch.testing.assert_close(net_a[key], net_b[key], rtol=1e-3, atol=1e-4)


def test_fp16_resume_restores_the_scaler_and_is_bit_identical(tmp_path, make_spec):
    spec = make_spec(train=FP16)
    summary = train(spec, tmp_path / "full", tmp_path / "ckpt_full")
    assert summary["amp"] == "float16"
    with pytest.raises(Interrupted):
        train(spec, tmp_path / "cut", tmp_path / "ckpt_cut", on_step=_stop_at(7))
    state = torch.load(tmp_path / "ckpt_cut" / "last.pt", weights_only=False)
    scaler = state["scaler"]
    assert state["global_step"] == 4 and scaler["scale"] != 2.0**16  # growth every 3 steps: the scale moved
    assert all(isinstance(v, (int, float)) for v in scaler.values())
    buffer = io.BytesIO()
    torch.save({"scaler": scaler, "skipped_steps": state["skipped_steps"]}, buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True)["scaler"] == scaler  # loadable by weights_only checkpoints
    resumed = train(spec, tmp_path / "cut", tmp_path / "ckpt_cut")
    assert resumed["steps"] == summary["steps"] and resumed["skipped_steps"] == summary["skipped_steps"]
    _assert_identical(_weights(tmp_path / "full"), _weights(tmp_path / "cut"))


def test_bf16_autocast_needs_no_scaler(tmp_path, make_spec):
    trainer = _trainer(make_spec, tmp_path, amp="bf16")
    assert trainer.autocast is torch.bfloat16 and not trainer.scaler.is_enabled()
    loss, _, _ = trainer.train_step(*_first_batch(trainer))
    assert torch.isfinite(loss) and trainer.skipped_steps == 0
