"""Notebook parameters and inputs: those the workflow passes (`notebook_parameters`: the paths and run lists each
notebook's NOTEBOOKS entry declares, under a resolved configuration), the files the notebook job reads
(`notebook_inputs`, from the same entry and parameters) and, when a notebook is opened by hand, the project root as
working directory and the run's resolved configuration (results/config.json).
"""

from __future__ import annotations

import itertools
import json
import os
import string
from pathlib import Path
from typing import Any

from x2softmax import config as xcfg
from x2softmax.losses import SUBJECT
from x2softmax.report.artifacts import COMMON_PATHS, notebook_entry
from x2softmax.vocabulary import MARGIN_TABLES, STUDY_TABLES, UNCERTAINTY_TABLES


COMMON_FROM_CONFIG = ("synthetic", "preset", "data_root", "datasets")  # every notebook's, from notebook_lists
# Fixed lists a NOTEBOOKS entry's "inputs" may expand besides the notebook's parameters: the files of one upstream job.
INPUT_LISTS: dict[str, tuple[str, ...]] = {
    "margin_table": MARGIN_TABLES,  # rule margins
    "uncertainty_table": UNCERTAINTY_TABLES,  # rule uncertainty
    "train_record": ("metrics.jsonl", "summary.json"),  # what a training run writes that pages read
    "study_table": STUDY_TABLES,  # rule mechanism_tables
}


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
        "default_run": SUBJECT if SUBJECT in config["run_losses"] else None,  # the ablations' reference
        "loss_specs": {run: xcfg.loss_spec(config, run) for run in runs},
    }


def notebook_parameters(nb: str, config: dict[str, Any]) -> dict[str, Any]:
    """Every papermill parameter of notebook `nb` under a resolved config, as its NOTEBOOKS entry declares them."""
    lists, entry = notebook_lists(config), notebook_entry(nb)
    paths = {**COMMON_PATHS, **entry["paths"]}
    return {**{name: path.format(data_root=lists["data_root"]) for name, path in paths.items()},
            **{name: lists[name] for name in COMMON_FROM_CONFIG},
            **{name: lists[key] for name, key in entry["from_config"].items()}}


def _items(value: Any) -> list[Any]:
    """The values a "{name}" of an input expands to: a list's items, a dict's keys, none for None, else the value."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple | dict) else [value]


def notebook_inputs(nb: str, config: dict[str, Any]) -> list[str]:
    """The files notebook `nb` reads under a resolved config: each of its entry's "inputs" with every "{name}" filled
    by the notebook's parameter `name` (or INPUT_LISTS), one file per combination, in the order given."""
    values = {**INPUT_LISTS, **notebook_parameters(nb, config)}
    files = []
    for template in notebook_entry(nb)["inputs"]:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
        unknown = [name for name in names if name not in values]
        if unknown:
            raise KeyError(f"input {template!r} of notebook {nb}: {', '.join(unknown)} is neither a parameter of the "
                           "notebook nor in INPUT_LISTS")
        files += [template.format(**dict(zip(names, chosen)))
                  for chosen in itertools.product(*(_items(values[name]) for name in names))]
    return files


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
