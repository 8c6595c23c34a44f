"""The run health table: saturation per run, and runs of different configurations with byte-identical backbones."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from run_specs import planted_spec  # tests/support

from x2softmax.train.health import COLUMNS, health_warnings, identical_pairs, run_health, write_run_health


def _plant(root, run, loss_name, hparams, seed=2048, backbone=b"weights", last=None):
    """A trained-run folder with a summary, a metrics log ending in `last` and a backbone of the given bytes."""
    out = root / run
    out.mkdir(parents=True)
    spec = planted_spec(run, loss_name, hparams, seed)
    (out / "summary.json").write_text(json.dumps({"run": run, "spec": spec}))
    lines = [{"step": 10, "loss": 50.0, "target_prob_median": 1e-20, "target_prob_below_1e-6": 1.0},
             {"step": 12, "val_set": "lfw", "accuracy": 0.5},  # a validation line is not a log line
             last or {"step": 20, "loss": 3.0, "target_prob_median": 0.02, "target_prob_below_1e-6": 0.01}]
    (out / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (out / "backbone.pt").write_bytes(backbone)


def test_identical_backbones_of_different_configurations_are_flagged(tmp_path):
    _plant(tmp_path, "x2softmax", "x2softmax", {"h": 0.0})
    _plant(tmp_path, "x2_h-0.2", "x2softmax", {"h": -0.2})  # same bytes, other h: a no-op ablation
    _plant(tmp_path, "arcface", "arcface", {"m": 0.5}, backbone=b"other weights")
    health = run_health(tmp_path, ["x2softmax", "x2_h-0.2", "arcface"])
    assert list(health.columns) == COLUMNS
    assert list(health["identical_to"]) == ["x2_h-0.2", "x2softmax", ""]
    assert identical_pairs(health) == [("x2softmax", "x2_h-0.2")]
    assert any("x2softmax and x2_h-0.2" in line and "byte-identical" in line for line in health_warnings(health))


def test_different_backbones_or_the_same_configuration_are_not_flagged(tmp_path):
    _plant(tmp_path, "x2softmax", "x2softmax", {"h": 0.0})
    _plant(tmp_path, "x2_h-0.2", "x2softmax", {"h": -0.2}, backbone=b"weights of h = -0.2")
    health = run_health(tmp_path, ["x2softmax", "x2_h-0.2"])
    assert list(health["identical_to"]) == ["", ""] and identical_pairs(health) == [] and health_warnings(health) == []
    # the same spec under two names (a copied run) is not a silent no-op: the configurations do not differ
    shutil.copytree(tmp_path / "x2softmax", tmp_path / "copy")
    assert run_health(tmp_path, ["x2softmax", "copy"])["identical_to"].tolist() == ["", ""]


def test_saturation_columns_come_from_the_last_log_line(tmp_path):
    _plant(tmp_path, "fine", "cosface", {"s": 8.0})
    _plant(tmp_path, "high_loss", "x2softmax", {"s": 64.0}, backbone=b"b",
           last={"step": 20, "loss": 83.5, "target_prob_median": 5e-37, "target_prob_below_1e-6": 1.0})
    _plant(tmp_path, "many_low", "arcface", {"s": 8.0}, backbone=b"c",
           last={"step": 20, "loss": 4.0, "target_prob_median": 1e-3, "target_prob_below_1e-6": 0.05})
    health = run_health(tmp_path, ["fine", "high_loss", "many_low"]).set_index("run")
    assert health["saturated"].tolist() == [False, True, True]
    assert health.loc["high_loss", "target_prob_median"] == 5e-37 and health.loc["fine", "final_loss"] == 3.0
    lines = health_warnings(health.reset_index())
    assert [line.split()[1] for line in lines] == ["high_loss", "many_low"]


def test_written_table_reads_back(tmp_path):
    _plant(tmp_path / "train", "x2softmax", "x2softmax", {"h": 0.0})
    path = write_run_health(run_health(tmp_path / "train", ["x2softmax"]), tmp_path / "summary" / "run_health.csv")
    back = pd.read_csv(path, keep_default_na=False)
    assert list(back.columns) == COLUMNS and back.loc[0, "identical_to"] == "" and back.loc[0, "seed"] == 2048


@pytest.mark.parametrize(("content", "message"), [
    ("{\"step\": 1, \"loss\": 2.0}\n", "no number 'target_prob_median'"),
    ("not json\n", "line 1 is not JSON"),
    ("{\"step\": 1, \"val_set\": \"lfw\", \"accuracy\": 0.5}\n", "no training log line"),
])
def test_bad_metrics_log_names_the_file(tmp_path, content, message):
    _plant(tmp_path, "r", "cosface", {})
    (tmp_path / "r" / "metrics.jsonl").write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        run_health(tmp_path, ["r"])
    assert "metrics.jsonl" in str(err.value)


def test_missing_files_name_the_path(tmp_path):
    _plant(tmp_path, "r", "cosface", {})
    (tmp_path / "r" / "backbone.pt").unlink()
    with pytest.raises(FileNotFoundError, match="backbone.pt"):
        run_health(tmp_path, ["r"])
    with pytest.raises(FileNotFoundError, match="summary.json"):
        run_health(tmp_path, ["absent"])


def test_command_writes_the_table_and_warns_on_stderr(tmp_path, capsys):
    from x2softmax.cli import main

    _plant(tmp_path, "x2softmax", "x2softmax", {"h": 0.0})
    _plant(tmp_path, "x2_h-0.2", "x2softmax", {"h": -0.2})
    out = tmp_path / "summary" / "run_health.csv"
    main(["run-health", "--runs", "x2softmax,x2_h-0.2", "--train-root", str(tmp_path), "--out", str(out)])
    captured = capsys.readouterr()
    assert str(out) in captured.out and len(pd.read_csv(out)) == 2
    assert captured.err.count("x2softmax: warning:") == 1 and "x2softmax and x2_h-0.2" in captured.err


def test_a_summary_whose_spec_is_not_a_run_spec_names_the_file_and_key(tmp_path):
    _plant(tmp_path, "r", "cosface", {})
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    del summary["spec"]["train"]["seed"]
    (tmp_path / "r" / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=r"r/summary.json: run spec key 'train.seed': missing"):
        run_health(tmp_path, ["r"])
