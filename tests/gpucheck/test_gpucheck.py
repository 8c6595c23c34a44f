"""`make gpu-check`: one line and exit 0 without a GPU, the dry mode's JSON summary, failures make the exit non-zero."""

from __future__ import annotations

import json

import pytest
import torch

from x2softmax import gpucheck
from x2softmax.cli import main as cli
from x2softmax.gpucheck import evaluation, smoke, training
from x2softmax.gpucheck.shapes import DRY, GPU

CHECKS = set(gpucheck.CHECKS)  # the dry mode end to end: test_device_simulation.py


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


def _smoke_summary(tmp_path, accuracies, extra_rows=(), listed=None):
    """A smoke project's results: metrics.csv rows, each run's verification_scores.npz (60 pairs per set) and the
    resolved config.json listing the runs (`listed`, default: those of the rows, three sets each)."""
    import numpy as np
    import pandas as pd

    listed = [f"run{i}" for i in range((len(accuracies) + 2) // 3)] if listed is None else listed
    (tmp_path / "results").mkdir(parents=True)
    (tmp_path / "results/config.json").write_text(json.dumps(
        {"run_losses": listed, "run_ablations": [], "seeds": {"extra": [], "runs": []}, "train": {"seed": 1}}))
    rows = []
    for i, acc in enumerate(accuracies):
        run, dataset = f"run{i // 3}", f"set{i % 3}"
        rows.append({"run": run, "loss": "x", "dataset": dataset, "protocol": "10fold", "metric": "accuracy_pct",
                     "value": acc, "checkpoint": "final", "note": ""})
        eval_dir = tmp_path / "results/eval" / run
        eval_dir.mkdir(parents=True, exist_ok=True)
        npz = eval_dir / "verification_scores.npz"
        arrays = dict(np.load(npz)) if npz.exists() else {}
        arrays[f"{dataset}/issame"] = np.arange(60) % 2 == 0
        np.savez(npz, **arrays)
    rows += [dict(rows[0], metric=m, value=v, note=n) for m, v, n in extra_rows]
    (tmp_path / "results/summary").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(tmp_path / "results/summary/metrics.csv", index=False)
    return tmp_path


CORRECT = [51.7, 58.3, 61.7, 55.0, 63.3, 56.7, 60.0, 53.3, 58.3, 65.0, 56.7, 55.0]  # one set near chance, pooled above


def test_not_measurable_nan_cells_pass_and_a_real_nan_fails(tmp_path):
    planted = [("tar_at_far_1e-04_pct", float("nan"), "not measurable: FAR 1e-04 < 1/600 impostor pairs"),
               ("val_at_far_1e-03_pct", float("nan"), "not measurable: FAR 1e-03 < 1/(impostor pairs ...)")]
    judged = smoke.judge(_smoke_summary(tmp_path / "a", CORRECT, planted))
    assert judged["nan_free"] and judged["not_measurable_cells"] == 2 and judged["unexplained_nan_cells"] == 0
    real = smoke.judge(_smoke_summary(tmp_path / "b", CORRECT, [*planted, ("accuracy_pct", float("nan"), "")]))
    assert not real["nan_free"] and real["unexplained_nan_cells"] == 1


def test_accuracy_is_a_pooled_test_a_correct_run_passes_and_chance_fails(tmp_path):
    judged = smoke.judge(_smoke_summary(tmp_path / "a", CORRECT))
    assert judged["above_chance"] and judged["pooled_pairs"] == 720 and judged["min_accuracy_pct"] == 51.7
    assert judged["p_value_vs_chance"] < smoke.CHANCE_ALPHA
    chance = smoke.judge(_smoke_summary(tmp_path / "b", [50.0, 53.3, 46.7, 51.7, 48.3, 50.0]))
    assert not chance["above_chance"] and chance["p_value_vs_chance"] > 0.1


def test_the_verdict_judges_the_runs_the_run_listed(tmp_path):
    """A subset (--smoke-subset) is judged over the runs its resolved config lists; a listed run that left no
    accuracy row fails the verdict, and a run it did not list is not pooled."""
    two = smoke.judge(_smoke_summary(tmp_path / "a", CORRECT, listed=["run0", "run1"]))
    assert two["runs"] == ["run0", "run1"] and two["cells"] == 6 and two["pooled_pairs"] == 360
    assert two["runs_without_accuracy"] == [] and two["min_accuracy_pct"] == 51.7
    missing = smoke.judge(_smoke_summary(tmp_path / "b", CORRECT, listed=["run0", "run1", "run2", "run3", "run4"]))
    assert missing["runs_without_accuracy"] == ["run4"] and missing["p_value_vs_chance"] < smoke.CHANCE_ALPHA
    assert not missing["above_chance"]


def test_a_timed_out_call_kills_its_whole_process_group(tmp_path):
    import os
    import sys
    import time

    pid_file = tmp_path / "grandchild.pid"
    script = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
              f"time.sleep(60)']); open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)")
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="killed with its jobs"):
        smoke.run_killing_group([sys.executable, "-c", script], tmp_path, timeout=2.0)
    assert time.monotonic() - started < 30
    grandchild = int(pid_file.read_text())
    for _ in range(50):  # reaped by init once killed
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"grandchild {grandchild} survived the timeout")


def test_the_summary_is_written_after_every_check(monkeypatch, tmp_path, capsys):
    _quick(monkeypatch)
    out = tmp_path / "progress.json"
    seen = {}

    def embedding_reads_the_file(*args, **kwargs):
        seen.update(json.loads(out.read_text()))
        return {"images_per_s": 20.0, "finite": True}

    monkeypatch.setattr(evaluation, "embedding_rate", embedding_reads_the_file)
    assert gpucheck.main(dry=True, out=out) == 0
    assert seen["finished"] is False and not seen["ok"]
    assert set(seen["checks"]) == {"smoke_workflow", "trainer_full_fc", "plain_loop", "trainer_partial_fc_0.1",
                                   "loader"}
    final = json.loads(out.read_text())
    assert final["finished"] and final["ok"] and set(final["checks"]) == CHECKS


def test_the_plan_refuses_a_gpu_summary_without_training_and_embedding_rates(tmp_path):
    from x2softmax import config as xcfg
    from x2softmax.plan import throughput_source

    partial = tmp_path / "gpu_check.json"  # e.g. `--checks smoke_workflow` on a GPU: passed, but no rates
    partial.write_text(json.dumps({"mode": "gpu", "ok": True, "finished": True, "device": "NVIDIA H200",
                                   "throughput": {"train_images_per_s": None, "eval_images_per_s": None}}))
    with pytest.raises(ValueError, match="did not finish its training and embedding checks"):
        throughput_source(xcfg.load_config("paper"), measured=partial)


def test_the_requirement_walk_follows_extras_stops_at_the_image_and_judges_torch_builds():
    from packaging.requirements import Requirement

    from x2softmax.gpucheck import needs

    metadata = {"nbconvert": ["bleach[css]!=5.0.0", "jinja2>=3.0", 'pywin32; sys_platform == "win32"'],
                "bleach": ["webencodings", 'tinycss2<1.5,>=1.1.0; extra == "css"'], "webencodings": [],
                "tinycss2": ["webencodings>=0.4"], "jinja2": ["markupsafe>=2.0"], "markupsafe": [],
                "torch": ["jinja2>=3.1", "sympy>=1.13", 'nvidia-cublas; platform_system == "Windows"']}
    walked = needs.walk([Requirement("torch>=2.11,<2.14"), Requirement("nbconvert>=7.16")], "3.12",
                        frozenset({"torch"}), metadata.get)
    assert set(walked) == {"torch", "nbconvert", "bleach", "webencodings", "tinycss2", "jinja2", "markupsafe"}
    assert set(walked["webencodings"].required_by) == {"tinycss2", "bleach"}
    # what the image's torch asks of a distribution already needed counts; its other needs are the image's
    assert walked["jinja2"].required_by == ["nbconvert", "torch"] and str(walked["jinja2"].specifier) == ">=3.0,>=3.1"
    assert walked["torch"].admits("2.11.0+cu130") and walked["torch"].admits("2.13.0+cpu")
    assert not walked["torch"].admits("2.10.0+cu128") and not walked["torch"].admits("2.14.0")
    assert [name for name in walked if needs.carried(name)] == [name for name in walked if name != "torch"]


def test_the_simulated_image_list_reads_both_images_and_names_a_bad_line(tmp_path):
    from x2softmax.gpucheck import image, needs

    listed = tmp_path / "device_image.txt"
    listed.write_text("# comment\nPackaging 26.4 24.0\njinja2 3.1.6  # recorded\n")
    assert image.image_versions(listed) == {"packaging": "26.4", "jinja2": "3.1.6"}
    assert image.image_versions(listed, "oldest") == {"packaging": "24.0", "jinja2": "3.1.6"}
    listed.write_text("packaging\n")
    with pytest.raises(ValueError, match=r"device_image.txt:1: expected 'name version \[oldest\]'"):
        image.image_versions(listed)
    recorded = needs.recorded_versions()
    assert recorded["torch"] == "2.11.0" and recorded["numpy"] == "2.5.2" and recorded["packaging"] == ""
    assert set(needs.FROM_THE_IMAGE) <= needs.device_packages()  # what is never carried is on the image
    assert set(image.BEFORE_THE_BUNDLE) <= set(image.image_versions())
