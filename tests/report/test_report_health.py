"""The pages' run-health sentences: identical networks, saturated runs, deviations from the paper preset."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from x2softmax.report import health
from x2softmax.report.verdicts import ablation_verdict
from x2softmax.train.health import COLUMNS


def _health(rows):
    base = {"base_run": "", "loss": "x2softmax", "seed": 2048, "target_prob_median": 0.01,
            "target_prob_below_1e-6": 0.0, "saturated": False, "backbone_sha256": "a" * 64, "identical_to": ""}
    return pd.DataFrame([{**base, **row} for row in rows])[COLUMNS]


def test_identical_notice_names_each_pair_among_the_shown_runs():
    table = _health([{"run": "x2softmax", "final_loss": 3.0, "identical_to": "x2_h-0.2"},
                     {"run": "x2_h-0.2", "final_loss": 3.0, "identical_to": "x2softmax"},
                     {"run": "arcface", "final_loss": 3.0, "backbone_sha256": "b" * 64}])
    text = health.identical_notice(table, ["x2softmax", "x2_h-0.2", "arcface"])
    assert text.count("Identical networks") == 1 and "x2softmax and x2_h-0.2" in text
    assert health.identical_notice(table, ["x2softmax", "arcface"]) == ""  # the twin is not on this page
    assert health.twins_of(table, "x2softmax") == ["x2_h-0.2"] and health.twins_of(table, "arcface") == []


def test_saturation_words_are_computed_from_the_table():
    healthy = _health([{"run": "a", "final_loss": 4.0, "target_prob_below_1e-6": 0.02},
                       {"run": "b", "final_loss": 6.5, "target_prob_below_1e-6": 0.01}])
    text = health.saturation_words(healthy)
    assert "No run ends saturated" in text and "2.0% (a)" in text and "6.50 nats (b)" in text
    sick = _health([{"run": "a", "final_loss": 83.5, "target_prob_median": 5e-37, "target_prob_below_1e-6": 1.0,
                     "saturated": True}, {"run": "b", "final_loss": 2.0}])
    text = health.saturation_words(sick)
    assert "1 of 2 runs end saturated" in text and "**a**: final loss 83.50 nats" in text and "5.00e-37" in text


def test_read_run_health_round_trip_and_errors(tmp_path):
    path = tmp_path / "run_health.csv"
    _health([{"run": "a", "final_loss": 4.0, "saturated": True}]).to_csv(path, index=False)
    back = health.read_run_health(path)
    assert back["saturated"].tolist() == [True] and back["identical_to"].tolist() == [""]
    with pytest.raises(FileNotFoundError, match="run health table not found"):
        health.read_run_health(tmp_path / "absent.csv")
    pd.DataFrame({"run": ["a"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="missing column"):
        health.read_run_health(path)


def test_paper_deviations_compare_with_the_paper_preset(tmp_path):
    specs = {"x2softmax": {"name": "x2softmax", "hparams": {"s": 8.0, "a": -0.9, "h": 0.0, "k": 0.65}},
             "x2_h-0.2": {"name": "x2softmax", "hparams": {"s": 8.0, "a": -0.9, "h": -0.2, "k": 0.65}},
             "softmax": {"name": "softmax", "hparams": {}},
             "arcface": {"name": "arcface", "hparams": {"s": 64.0, "m": 0.5}}}
    table = health.paper_deviations(specs)
    # the ablation's own override (h = -0.2) is the paper's ablation too: only s deviates
    assert table[["run", "hyperparameter", "value", "paper"]].values.tolist() == [
        ["x2softmax", "s", 8.0, 64.0], ["x2_h-0.2", "s", 8.0, 64.0]]
    text = health.deviation_notice(table)
    assert "s = 8 (paper: 64) in x2softmax, x2_h-0.2" in text
    assert health.deviation_notice(health.paper_deviations({"arcface": specs["arcface"]})) == ""
    for run, spec in specs.items():
        (tmp_path / run).mkdir()
        (tmp_path / run / "summary.json").write_text(json.dumps({"spec": {"loss": spec}}))
    assert health.run_loss_specs(tmp_path, list(specs)) == specs


def test_ablation_verdict_gives_identical_networks_no_verdict():
    table = pd.DataFrame({"run": ["x2", "abl"], "overrides": ["defaults", "h=-0.2"],
                          "lfw 10fold": [90.0, 90.0], "lfw 10fold std": [1.0, 1.0]})
    text = ablation_verdict(table, "x2", identical=["abl"])
    assert "identical networks" in text and "not tested" in text and "no benchmark differs" not in text
    assert "no benchmark differs" in ablation_verdict(table, "x2")


def test_health_layout_shortens_the_hash_and_formats_the_diagnostic():
    table = _health([{"run": "a", "final_loss": 4.0, "target_prob_median": 5e-37, "target_prob_below_1e-6": 0.031,
                      "saturated": True}])
    row = health.health_layout(table).iloc[0]
    assert row["backbone_sha256"] == "a" * 12 and row["target_prob_median"] == "5.00e-37"
    assert row["target_prob_below_1e-6"] == "3.1%" and row["saturated"] == "yes" and "base_run" not in row
