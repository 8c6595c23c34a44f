"""Notebook parameters: those the workflow passes (`notebook_parameters`: the paths and run lists each notebook's
NOTEBOOKS entry declares, under a resolved configuration) and, when a notebook is opened by hand, the project root as
working directory and the run's resolved configuration (results/config.json).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from x2softmax import config as xcfg
from x2softmax.losses import SUBJECT
from x2softmax.report.artifacts import COMMON_PATHS, notebook_entry


COMMON_FROM_CONFIG = ("synthetic", "preset", "data_root", "datasets")  # every notebook's, from notebook_lists


def enter_project_root(results_dir: str = "results") -> Path:
    """Change to the project root when started inside notebooks/ (as Jupyter does); return the working directory."""
    here = Path.cwd()
    if not (here / results_dir).exists() and (here.parent / results_dir).exists():
        os.chdir(here.parent)
    return Path.cwd()


def notebook_lists(config: dict[str, Any]) -> dict[str, Any]:
    """The lists the notebooks take as parameters (runs, losses, suites, ablations...), from a resolved config."""
    runs = xcfg.runs(config)
    return {
        "synthetic": config["synthetic"],
        "preset": config["preset"],
        "data_root": str(config["data"]["root"]),
        "datasets": list(config["data"].get("required", [])),
        "toy_data": str(config["toy"].get("settings", {}).get("data", "digits")),
        "loss_runs": list(config["run_losses"]),
        "runs": runs,
        "base_runs": [run for run in runs if xcfg.base_run(run) == run],  # one per loss / ablation (its first seed)
        "toy_losses": list(config["toy"]["losses"]),
        "dims": list(config["toy"]["dims"]),
        "suites": list(config["evaluate"]["ijb"]),
        "ablations": {a: config["ablations"][a] for a in config["run_ablations"]},
        "baseline": SUBJECT if SUBJECT in config["run_losses"] else None,
        "loss_specs": {run: xcfg.loss_spec(config, run) for run in runs},
    }


def notebook_parameters(nb: str, config: dict[str, Any]) -> dict[str, Any]:
    """Every papermill parameter of notebook `nb` under a resolved config, as its NOTEBOOKS entry declares them."""
    lists, entry = notebook_lists(config), notebook_entry(nb)
    paths = {**COMMON_PATHS, **entry["paths"]}
    return {**{name: path.format(data_root=lists["data_root"]) for name, path in paths.items()},
            **{name: lists[name] for name in COMMON_FROM_CONFIG},
            **{name: lists[key] for name, key in entry["from_config"].items()}}


def run_config(results_dir: str = "results") -> dict[str, Any]:
    """The resolved configuration a finished run used (`{results_dir}/config.json`)."""
    path = Path(results_dir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the workflow first (make replicate), or pass the "
                                "notebook's parameters explicitly (papermill -y '{parameters: {...}}')")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not JSON ({err}); rerun the workflow to rewrite it") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} holds a {type(config).__name__}, not the resolved configuration; rerun the workflow")
    return config
