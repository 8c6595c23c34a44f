"""The trainer on one CPU process: outputs, kill-and-resume, NaN stop, spec/data checks."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch

from x2softmax.io import file_sha256
from x2softmax.models import load_backbone
from x2softmax.train import trainer as trainer_module
from x2softmax.train.trainer import TrainingDiverged, train

from .conftest import IMAGES_PER_CLASS, NUM_CLASSES, make_faces


class Interrupted(Exception):
    """Raised by the test hook to simulate a killed job."""


def _stop_at(step: int):
    def hook(global_step: int) -> None:
        if global_step == step:
            raise Interrupted(step)

    return hook


def _weights(out_dir):
    return torch.load(out_dir / "backbone.pt"), torch.load(out_dir / "head.pt")["weight"]


def _assert_identical(a, b):
    (backbone_a, head_a), (backbone_b, head_b) = a, b
    assert backbone_a.keys() == backbone_b.keys()
    for key in backbone_a:
        torch.testing.assert_close(backbone_a[key], backbone_b[key], rtol=0, atol=0)
    torch.testing.assert_close(head_a, head_b, rtol=0, atol=0)


def test_run_writes_the_documented_outputs(tmp_path, make_spec):
    spec = make_spec()
    summary = train(spec, tmp_path / "out", tmp_path / "ckpt")
    out = tmp_path / "out"
    steps = 2 * (NUM_CLASSES * IMAGES_PER_CLASS // 8)
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["spec"] == spec.to_dict() and on_disk["steps"] == summary["steps"] == steps
    for key in ("data_hash", "wall_time_s", "images_per_s", "final_loss", "final_acc", "device", "world_size",
                "peak_memory_mb", "epochs"):
        assert key in on_disk, key
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [3, 6, 9, 12]
    assert set(lines[0]) == {"step", "epoch", "loss", "acc", "lr", "grad_norm", "images_per_s",
                             "target_prob_median", "target_prob_below_1e-6"}
    assert all(0.0 < x["target_prob_median"] < 1.0 and 0.0 <= x["target_prob_below_1e-6"] <= 1.0 for x in lines)
    assert on_disk["final_target_prob_median"] == lines[-1]["target_prob_median"]
    assert lines[-1]["lr"] == pytest.approx(0.01)  # milestone at epoch 1 of 2
    model, model_spec = load_backbone(out / "backbone.pt")
    assert model_spec["backbone"] == "iresnet_tiny"
    assert torch.load(out / "head.pt")["weight"].shape == (NUM_CLASSES, 16)
    assert (tmp_path / "ckpt" / "last.pt").is_file()


def test_learning_reduces_the_loss(tmp_path, make_spec):
    spec = make_spec(train={"epochs": 4, "log_every": 6, "checkpoint_every": 0,
                            "schedule": {"name": "poly", "power": 1.0, "warmup_epochs": 0}})
    train(spec, tmp_path / "out", tmp_path / "ckpt")
    lines = [json.loads(x) for x in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["loss"] < lines[0]["loss"]


def test_resume_after_a_kill_is_bit_identical(tmp_path, make_spec):
    spec = make_spec(train={"partial_fc": 0.5}, model={"dropout": 0.2})
    train(spec, tmp_path / "full", tmp_path / "ckpt_full")
    with pytest.raises(Interrupted):
        train(spec, tmp_path / "cut", tmp_path / "ckpt_cut", on_step=_stop_at(7))  # last checkpoint: step 4
    assert torch.load(tmp_path / "ckpt_cut" / "last.pt", weights_only=True)["global_step"] == 4
    assert not (tmp_path / "cut" / "summary.json").exists()
    summary = train(spec, tmp_path / "cut", tmp_path / "ckpt_cut")
    assert summary["steps"] == 12
    _assert_identical(_weights(tmp_path / "full"), _weights(tmp_path / "cut"))


def test_streamed_recordio_matches_in_memory(tmp_path, make_spec):
    train(make_spec(train={"epochs": 1}), tmp_path / "mem", tmp_path / "c1")
    train(make_spec(train={"epochs": 1}, data={"in_memory": False, "workers": 0}), tmp_path / "stream", tmp_path / "c2")
    _assert_identical(_weights(tmp_path / "mem"), _weights(tmp_path / "stream"))


def test_changed_spec_discards_the_checkpoint(tmp_path, make_spec, capsys):
    with pytest.raises(Interrupted):
        train(make_spec(), tmp_path / "out", tmp_path / "ckpt", on_step=_stop_at(5))
    steps = []
    train(make_spec(train={"lr": 0.05}), tmp_path / "out", tmp_path / "ckpt", on_step=steps.append)
    assert steps[0] == 1
    assert "different spec" in capsys.readouterr().err


def _poison_loss(monkeypatch, step):
    """The loss's logits are NaN at the given step (its `step`-th forward pass)."""
    real_build_loss = trainer_module.build_loss

    def poisoned_build_loss(name, **hparams):
        loss = real_build_loss(name, **hparams)
        calls = {"n": 0}
        plain = loss.margin_logits

        def margin_logits(cosine, labels, norms=None, **options):
            calls["n"] += 1
            logits = plain(cosine, labels, norms, **options)
            return logits * float("nan") if calls["n"] == step else logits

        loss.margin_logits = margin_logits
        return loss

    monkeypatch.setattr(trainer_module, "build_loss", poisoned_build_loss)


def _poison_gradient(monkeypatch, step):
    """A backbone gradient is infinite at the given step (its `step`-th backward pass)."""
    real_build_backbone = trainer_module.build_backbone

    def poisoned_build_backbone(*args, **kwargs):
        backbone = real_build_backbone(*args, **kwargs)
        calls = {"n": 0}

        def hook(grad):
            calls["n"] += 1
            return grad * math.inf if calls["n"] == step else grad

        next(backbone.parameters()).register_hook(hook)
        return backbone

    monkeypatch.setattr(trainer_module, "build_backbone", poisoned_build_backbone)


def test_nan_loss_stops_with_the_step_and_keeps_the_checkpoint(tmp_path, make_spec, monkeypatch):
    _poison_loss(monkeypatch, 6)
    ckpt = tmp_path / "ckpt" / "last.pt"
    with pytest.raises(RuntimeError, match="step 6"):
        train(make_spec(), tmp_path / "out", tmp_path / "ckpt")
    assert torch.load(ckpt, weights_only=True)["global_step"] == 4
    before = file_sha256(ckpt)
    assert not (tmp_path / "out" / "summary.json").exists()
    assert file_sha256(ckpt) == before


@pytest.mark.parametrize(("poison", "what", "step"), [
    (_poison_loss, "loss is nan", 5),  # read at the log step 6
    (_poison_gradient, "the gradient norm is inf (weights updated with it)", 7),  # read at the checkpoint step 8
])
def test_a_non_finite_step_between_reads_is_named_and_never_checkpointed(tmp_path, make_spec, monkeypatch, poison,
                                                                         what, step):
    """The loop reads the device only at log steps (3, 6, ...) and checkpoints (4, 8, ...); a non-finite step
    between them is still named exactly, and no checkpoint holds the weights that followed it."""
    poison(monkeypatch, step)
    ckpt = tmp_path / "ckpt" / "last.pt"
    seen = []
    with pytest.raises(TrainingDiverged, match=re.escape(f"{what} at step {step}; training stopped")) as raised:
        train(make_spec(), tmp_path / "out", tmp_path / "ckpt", on_step=seen.append)
    assert f"last good checkpoint kept: {ckpt} (step 4)" in str(raised.value)
    assert seen[-1] == step  # training went on to the next read (step + 1 here) and stopped there
    state = torch.load(ckpt, weights_only=True)
    assert state["global_step"] == 4
    assert all(bool(torch.isfinite(t).all()) for t in [*state["backbone"].values(), *state["head"].values()]
               if t.is_floating_point())
    assert not (tmp_path / "out" / "summary.json").exists()


def test_spec_contradicted_by_data_fails_before_the_first_step(tmp_path, make_spec):
    steps = []
    with pytest.raises(FileNotFoundError, match="nowhere"):
        train(make_spec(data={"train_dir": str(tmp_path / "nowhere")}), tmp_path / "o2", tmp_path / "c2")
    broken = make_faces(tmp_path / "broken", num_classes=2, per_class=4)
    (broken / "train.idx").unlink()
    with pytest.raises(FileNotFoundError, match="train.idx"):
        train(make_spec(data={"train_dir": str(broken)}), tmp_path / "o3", tmp_path / "c3")
    wrong_size = make_faces(tmp_path / "wrong", num_classes=2, per_class=4)
    (wrong_size / "property").write_text("2,112,112\n")
    with pytest.raises(ValueError, match="property"):
        train(make_spec(data={"train_dir": str(wrong_size)}), tmp_path / "o4", tmp_path / "c4")
    with pytest.raises(ValueError, match="fewer than one batch"):
        train(make_spec(train={"batch_size": 64}), tmp_path / "o5", tmp_path / "c5")
    with pytest.raises(FileNotFoundError, match="lfw.bin"):
        train(make_spec(train={"val": {"every": 2, "data_dir": str(tmp_path), "sets": ["lfw"]}}), tmp_path / "o6",
              tmp_path / "c6")
    with pytest.raises(ValueError, match="amp"):
        train(make_spec(train={"amp": "fp8"}), tmp_path / "o7", tmp_path / "c7")
    assert steps == [] and not any((tmp_path / f"c{i}").exists() for i in range(1, 8))


def test_validation_during_training(tmp_path, make_spec, faces_dir):
    from x2softmax.data.pairs import write_bin
    from x2softmax.data.recordio import FaceRecordIO

    faces = FaceRecordIO(faces_dir)
    pairs = [(i, i + 1) for i in range(0, 20, 2)] + [(i, i + IMAGES_PER_CLASS) for i in range(10)]
    write_bin(tmp_path / "lfw.bin", [faces.encoded(k) for pair in pairs for k in pair],
              [bool(faces.labels[a] == faces.labels[b]) for a, b in pairs])
    spec = make_spec(train={"val": {"every": 6, "data_dir": str(tmp_path), "sets": ["lfw"]}})
    summary = train(spec, tmp_path / "out", tmp_path / "ckpt")
    lines = [json.loads(x) for x in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    val = [x for x in lines if "val_set" in x]
    assert [(x["step"], x["val_set"]) for x in val] == [(6, "lfw"), (12, "lfw")]
    assert summary["val_final"]["lfw"] == val[-1]["accuracy"]
    assert summary["val_best"]["lfw"] == max(x["accuracy"] for x in val)


@pytest.mark.parametrize("deterministic", [True, False])
def test_deterministic_flag_is_set_as_torch_sets_it(deterministic):
    """The trainer's own setting of the flag equals torch.use_deterministic_algorithms' (strict on the CPU)."""
    from x2softmax.train.runtime import set_deterministic

    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        set_deterministic(deterministic, torch.device("cpu"))
        assert torch.are_deterministic_algorithms_enabled() is deterministic
        assert torch.is_deterministic_algorithms_warn_only_enabled() is False
        assert torch.backends.cudnn.benchmark is (not deterministic)
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
