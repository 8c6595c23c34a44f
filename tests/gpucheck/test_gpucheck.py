"""`make gpu-check`: one line and exit 0 without a GPU, the dry mode's JSON summary, failures make the exit non-zero."""

from __future__ import annotations

import json

import pytest
import torch

from x2softmax import gpucheck
from x2softmax.cli import main as cli
from x2softmax.gpucheck import evaluation, smoke, training
from x2softmax.gpucheck.shapes import DRY, GPU

CHECKS = {"smoke_workflow", "trainer_full_fc", "plain_loop", "trainer_partial_fc_0.1", "loader", "embedding",
          "ijb_scoring", "kill_and_resume"}


def test_without_a_gpu_it_says_so_in_one_line_and_exits_zero(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exit_info:
        cli(["gpu-check", "--out", str(tmp_path / "gpu_check.json")])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1 and "no CUDA GPU" in out and "DRY=1" in out
    assert not (tmp_path / "gpu_check.json").exists()


def test_gpu_shapes_are_the_papers():
    assert (GPU.backbone, GPU.input_size, GPU.embedding_size, GPU.batch_size) == ("r50", 112, 512, 128)
    assert GPU.num_classes == 93431 and GPU.eval_batch_size == 256
    assert (GPU.ijb_templates, GPU.ijb_pairs) == (23124, 15658489)  # IJB-C (registry expect counts)
    assert GPU.enforce_targets and not DRY.enforce_targets and DRY.device == "cpu"


def _quick(monkeypatch, failing: str | None = None):
    """Every measurement replaced by a cheap stand-in (the aggregation logic is what is tested)."""
    def fake(name, **values):
        def run(*args, **kwargs):
            if name == failing:
                raise RuntimeError(f"{name} broke")
            return dict(values)
        return run

    monkeypatch.setattr(smoke, "smoke_workflow", fake("smoke", ok=True))
    monkeypatch.setattr(training, "trainer_rate", fake("trainer", images_per_s=100.0, steps=2, skipped_steps=0))
    monkeypatch.setattr(training, "plain_rate", fake("plain", images_per_s=50.0))
    monkeypatch.setattr(training, "loader_rate", fake("loader", images_per_s=10.0))
    monkeypatch.setattr(evaluation, "embedding_rate", fake("embed", images_per_s=20.0, finite=True))
    monkeypatch.setattr(evaluation, "ijb_scoring_time", fake("ijb", score_s=1.0))
    monkeypatch.setattr(training, "kill_and_resume", fake("resume", ok=True, bit_exact=True))


def test_summary_aggregates_every_check_and_any_failure_fails(monkeypatch, capsys, tmp_path):
    _quick(monkeypatch)
    assert gpucheck.main(dry=True, out=tmp_path / "ok.json") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(summary["checks"]) == CHECKS and summary["ok"] and summary["mode"] == "dry"
    assert summary["throughput"]["ratio_to_plain_loop"] == 2.0
    assert summary["checks"]["loader"]["feeds_the_gpu"] is False  # reported; judged on a GPU only
    _quick(monkeypatch, failing="embed")
    assert gpucheck.main(dry=True, out=tmp_path / "bad.json") == 1
    bad = json.loads((tmp_path / "bad.json").read_text())
    assert not bad["ok"] and bad["checks"]["embedding"]["error"] == "RuntimeError: embed broke"
    assert all(bad["checks"][name]["ok"] for name in CHECKS - {"embedding"})


def test_a_spent_budget_fails_the_checks_it_did_not_run(monkeypatch, tmp_path, capsys):
    _quick(monkeypatch)
    assert gpucheck.main(dry=True, out=tmp_path / "late.json", budget_s=0.0) == 1
    late = json.loads((tmp_path / "late.json").read_text())
    assert all("budget" in check["error"] for check in late["checks"].values())


@pytest.mark.e2e
def test_dry_mode_runs_every_check_on_the_cpu(tmp_path, capsys):
    out = tmp_path / "gpu_check.json"
    with pytest.raises(SystemExit) as exit_info:
        cli(["gpu-check", "--dry", "--out", str(out)])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(printed[-1])
    assert summary == json.loads(out.read_text())
    assert summary["ok"] and summary["mode"] == "dry" and set(summary["checks"]) == CHECKS
    assert summary["checks"]["smoke_workflow"]["planned"]  # the dry mode plans the smoke workflow
    assert summary["checks"]["kill_and_resume"]["bit_exact"]  # deterministic on the CPU
    assert summary["checks"]["trainer_full_fc"]["finite_loss"]
    for key in ("train_images_per_s", "plain_loop_images_per_s", "train_pfc_images_per_s", "loader_images_per_s",
                "eval_images_per_s"):
        assert summary["throughput"][key] > 0, key
    # a dry run's CPU numbers are not GPU throughput: the plan refuses them
    with pytest.raises(SystemExit, match="not a passed GPU run"):
        cli(["plan", "--preset", "paper", "--measured", str(out)])
