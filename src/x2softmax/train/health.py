"""Run health: per trained run, whether it left saturation and whether its network differs from every other run's.

Written as results/summary/run_health.csv (docs/architecture.md) from each run's summary.json, metrics.jsonl and
backbone.pt. Two runs whose specs differ (loss, hyperparameters, seed, ...) but whose backbones are byte-identical
trained nothing different: a comparison between them would report "no difference" for an experiment never made.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from x2softmax.config import base_run
from x2softmax.io import atomic_path, file_sha256
from x2softmax.runspec import RunSpec
from x2softmax.train.saturation import BELOW_KEY, MEDIAN_KEY, is_saturated

COLUMNS = ["run", "base_run", "loss", "seed", "final_loss", MEDIAN_KEY, BELOW_KEY, "saturated", "backbone_sha256",
           "identical_to"]


def _last_logged(path: Path) -> dict[str, Any]:
    """The last training log line (one with a loss) of a metrics.jsonl, which must carry the diagnostic."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: training metrics not found")
    last = None
    for number, text in enumerate(path.read_text().splitlines(), 1):
        try:
            line = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: line {number} is not JSON ({err.msg})") from None
        if isinstance(line, dict) and "loss" in line:
            last = line
    if last is None:
        raise ValueError(f"{path}: no training log line (one with a loss)")
    for key in (MEDIAN_KEY, BELOW_KEY):
        if not isinstance(last.get(key), (int, float)):
            raise ValueError(f"{path}: the last log line has no number {key!r} (trained before the saturation "
                             "diagnostic existed: retrain the run)")
    return last


def _run_row(train_root: Path, run: str) -> tuple[dict[str, Any], RunSpec]:
    """(health row without identical_to, the run's spec with its name blanked) of one trained run."""
    directory = Path(train_root) / run
    summary_path = directory / "summary.json"
    if not summary_path.is_file():
        raise FileNotFoundError(f"{summary_path}: training summary not found")
    summary = json.loads(summary_path.read_text())
    if not isinstance(summary, dict) or "spec" not in summary or not isinstance(summary["spec"], dict):
        raise ValueError(f"{summary_path}: no 'spec' object (not a training summary)")
    try:
        spec = RunSpec.from_dict(summary["spec"])
    except ValueError as err:
        raise ValueError(f"{summary_path}: {err}") from None
    last = _last_logged(directory / "metrics.jsonl")
    backbone = directory / "backbone.pt"
    if not backbone.is_file():
        raise FileNotFoundError(f"{backbone}: trained backbone not found")
    final_loss = float(last["loss"])
    row = {
        "run": run, "base_run": base_run(run), "loss": spec.loss.name, "seed": spec.train.seed,
        "final_loss": final_loss, MEDIAN_KEY: float(last[MEDIAN_KEY]), BELOW_KEY: float(last[BELOW_KEY]),
        "saturated": is_saturated(final_loss, float(last[BELOW_KEY])), "backbone_sha256": file_sha256(backbone),
    }
    return row, dataclasses.replace(spec, run="")


def run_health(train_root: Path, runs: Sequence[str]) -> pd.DataFrame:
    """The run health table (COLUMNS) of the given trained runs under train_root."""
    rows, specs = [], {}
    for run in runs:
        row, specs[run] = _run_row(Path(train_root), run)
        rows.append(row)
    for row in rows:
        row["identical_to"] = ";".join(
            other["run"] for other in rows
            if other["run"] != row["run"] and other["backbone_sha256"] == row["backbone_sha256"]
            and specs[other["run"]] != specs[row["run"]])
    return pd.DataFrame(rows, columns=COLUMNS)


def identical_pairs(health: pd.DataFrame) -> list[tuple[str, str]]:
    """Pairs of runs (each once, in table order) with different configurations and byte-identical backbones."""
    pairs = []
    for run, twins in zip(health["run"], health["identical_to"].fillna("").astype(str)):
        pairs += [(run, twin) for twin in twins.split(";") if twin and (twin, run) not in pairs]
    return pairs


def health_warnings(health: pd.DataFrame) -> list[str]:
    """One line per pair of runs with identical networks and per saturated run (empty when every run is healthy)."""
    lines = [f"runs {a} and {b} have different configurations but byte-identical trained backbones: "
             "they trained the same network, so comparing them measures nothing" for a, b in identical_pairs(health)]
    for row in health.to_dict("records"):
        if bool(row["saturated"]):
            lines.append(f"run {row['run']} ends saturated: final training loss {row['final_loss']:.2f} nats, "
                         f"{row[BELOW_KEY]:.1%} of samples under 1e-6 target probability")
    return lines


def write_run_health(health: pd.DataFrame, path: Path) -> Path:
    """Write the table as CSV atomically; returns the path."""
    with atomic_path(Path(path)) as tmp:
        health.to_csv(tmp, index=False)
    return Path(path)
