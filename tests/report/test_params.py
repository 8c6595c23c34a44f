"""Notebook parameters when a notebook is opened by hand."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from x2softmax import config as xcfg
from x2softmax.report.params import enter_project_root, notebook_lists, run_defaults


def test_notebook_lists_follow_the_config() -> None:
    config = xcfg.load_config()
    lists = notebook_lists(config)
    assert lists["loss_runs"] == config["run_losses"]
    assert lists["runs"] == xcfg.runs(config)  # loss runs, ablation runs, then the extra-seed runs
    assert lists["base_runs"] == config["run_losses"] + config["run_ablations"]  # page 07 by hand: no seed runs
    assert set(lists["ablations"]) == set(config["run_ablations"])
    assert lists["baseline"] == "x2softmax"
    assert lists["loss_specs"]["x2_a-0.5"] == {"name": "x2softmax",
                                               "hparams": xcfg.loss_spec(config, "x2_a-0.5")["hparams"]}


def test_run_defaults_read_the_runs_config(tmp_path: Path) -> None:
    config = xcfg.load_config("smoke")
    (tmp_path / "results").mkdir()
    (tmp_path / "results/config.json").write_text(json.dumps(config))
    assert run_defaults(str(tmp_path / "results")) == notebook_lists(config)
    with pytest.raises(FileNotFoundError, match="make replicate"):
        run_defaults(str(tmp_path / "missing"))


def test_enter_project_root_from_notebooks_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert enter_project_root() == tmp_path
    assert Path(os.getcwd()) == tmp_path
    assert enter_project_root() == tmp_path  # already there: unchanged
