"""Notebook parameters: those the workflow passes, and when a notebook is opened by hand."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from x2softmax import config as xcfg
from x2softmax.report.params import enter_project_root, notebook_inputs, notebook_lists, notebook_parameters, run_config


def test_notebook_lists_follow_the_config() -> None:
    config = xcfg.load_config()
    lists = notebook_lists(config)
    assert lists["loss_runs"] == config["run_losses"]
    assert lists["runs"] == xcfg.runs(config)  # loss runs, ablation runs, then the extra-seed runs
    assert lists["base_runs"] == config["run_losses"] + config["run_ablations"]  # page 07 by hand: no seed runs
    assert set(lists["ablations"]) == set(config["run_ablations"])
    assert lists["default_run"] == "x2softmax"
    assert lists["loss_specs"]["x2_a-0.5"] == {"name": "x2softmax",
                                               "hparams": xcfg.loss_spec(config, "x2_a-0.5")["hparams"]}


def test_run_config_reads_the_runs_config(tmp_path: Path) -> None:
    config = xcfg.load_config("smoke")
    (tmp_path / "results").mkdir()
    (tmp_path / "results/config.json").write_text(json.dumps(config))
    assert run_config(str(tmp_path / "results")) == config
    with pytest.raises(FileNotFoundError, match="make replicate"):
        run_config(str(tmp_path / "missing"))
    (tmp_path / "results/config.json").write_text("[1]")
    with pytest.raises(ValueError, match="config.json holds a list"):
        run_config(str(tmp_path / "results"))


def test_notebook_parameters_follow_the_declaration_and_the_config() -> None:
    config = xcfg.load_config()
    config["data"]["root"] = "elsewhere/data"
    geometry = notebook_parameters("07_geometry", config)
    assert geometry["class_counts_csv"] == "elsewhere/data/class_counts.csv"
    assert geometry["runs"] == notebook_lists(config)["base_runs"] and geometry["figures_dir"] == "reports/figures"
    assert notebook_parameters("03_verification", config)["runs"] == config["run_losses"]
    with pytest.raises(KeyError, match="unknown report notebook"):
        notebook_parameters("99_nothing", config)


def test_enter_project_root_from_notebooks_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert enter_project_root() == tmp_path
    assert Path(os.getcwd()) == tmp_path
    assert enter_project_root() == tmp_path  # already there: unchanged


def test_setup_opened_by_hand_takes_the_finished_runs_parameters(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from x2softmax.report import page
    from x2softmax.report.notebook import setup

    shown: list[str] = []
    monkeypatch.setattr(page, "_display_html", shown.append)
    config = xcfg.load_config("smoke")
    (tmp_path / "results").mkdir()
    (tmp_path / "results/config.json").write_text(json.dumps(config))
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # as Jupyter starts a notebook
    p = setup("04_ijb", None)
    assert Path.cwd() == tmp_path
    assert vars(p) == notebook_parameters("04_ijb", config)
    assert "Synthetic data" in shown[0] and "Preset: <code>smoke</code>" in shown[0]  # the page's notice
    passed = {**vars(p), "preset": "given"}
    assert vars(setup("04_ijb", passed)) == passed  # the workflow's parameters are taken as they are


def test_notebook_inputs_expand_the_parameters_in_order() -> None:
    config = xcfg.load_config()
    ablations = notebook_inputs("06_ablations", config)
    assert ablations[-2:] == ["results/train/x2softmax/metrics.jsonl", "results/train/x2softmax/summary.json"]
    assert ablations[:2] == ["results/summary/metrics.csv", "results/summary/run_health.csv"]
    config["run_losses"] = [loss for loss in config["run_losses"] if loss != "x2softmax"]
    assert not any("/x2softmax/" in path for path in notebook_inputs("06_ablations", config))  # no default run
    toy = notebook_inputs("02_toy", config)
    assert toy[:2] == [f"results/toy/{config['toy']['losses'][0]}_{dim}d.npz" for dim in config["toy"]["dims"]]
