"""The reviewer's command: what it pulls (never a real training set) and what it marks up to date."""

from __future__ import annotations

import pytest

from x2softmax import config as xcfg
from x2softmax.review import check_params, pull_targets, restored_targets

LOCK = {"stages": {
    "data": {"outs": [{"path": p} for p in ("data/train", "data/val", "data/IJBB", "data/IJBC", "data/.checked",
                                            "results/preflight.json")]},
    "replicate": {"outs": [{"path": p} for p in ("data/class_counts.csv", "results/aligned", "results/train",
                                                 "results/toy", "results/benchmarks")]},
}}


def test_a_real_data_preset_pulls_everything_but_its_training_set():
    targets = pull_targets(LOCK, xcfg.load_config("paper"))
    assert "data/train" not in targets
    assert {"data/val", "data/IJBB", "data/IJBC", "data/.checked", "results/train", "results/aligned"} <= set(targets)


def test_a_synthetic_preset_pulls_its_small_training_set_too():
    lock = {"stages": {"data": {"outs": [{"path": "results/data/train"}, {"path": "results/data/val"}]}}}
    assert pull_targets(lock, xcfg.load_config("smoke")) == ["results/data/train", "results/data/val"]


def test_restored_targets_cover_markers_preflight_models_and_toy_runs(tmp_path):
    for rel in ("data/.checked/lfw.json", "results/preflight.json", "data/class_counts.csv",
                "results/train/arcface/summary.json", "results/toy/arcface_2d.npz", "results/eval/arcface/metrics.csv"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    assert restored_targets(tmp_path, "data") == [
        "data/.checked/lfw.json", "data/class_counts.csv", "results/preflight.json",
        "results/toy/arcface_2d.npz", "results/train/arcface/summary.json"]


def test_params_naming_another_data_root_stop_the_review(tmp_path):
    (tmp_path / "params.yaml").write_text("preset: ''\ndata_root: results/data\n")
    with pytest.raises(SystemExit, match="data_root is 'results/data' but the preset's data.root is 'data'"):
        check_params(tmp_path, xcfg.load_config("paper"))
    check_params(tmp_path, xcfg.load_config("smoke"))
