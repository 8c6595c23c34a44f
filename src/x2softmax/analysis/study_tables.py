"""The tables of the controlled study (issue 36, `make replicate PRESET=mechanism`), read from its results layout:
results/mechanism/<world>/eval/<run>/metrics.csv (overall accuracy), <world>/kinds.csv (accuracy per pair kind) and
<world>/geometry.csv (per class of each trained head: `probe.GEOMETRY_COLUMNS`), written to results/mechanism/tables:

- runs: one row per world, run and benchmark: overall 10-fold accuracy and accuracy per pair kind (%);
- run_slopes: per world and run, the slopes of the kept margin, the analytic margin and training accuracy on the
  angle to the nearest class weight (`mechanism.run_slopes`);
- angle_bins: per loss and 5-degree bin of that angle, the classes' mean kept margin, analytic margin and training
  accuracy over every run (the page's curves);
- dose_response: per benchmark, metric and fixed-margin loss, the slope of X2's advantage on the look-alike share;
- lookalike: per benchmark and fixed-margin loss, X2 minus it on look-alike impostors, overall, and on look-alike
  impostors at equal overall accuracy;
- margin_slopes: per loss, the realised margin's slope on the angle, beside the analytic one and the paper's;
- convergence: per loss, the slope of per-class training accuracy on the angle, and each fixed-margin loss minus X2.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from x2softmax.analysis import mechanism as M
from x2softmax.analysis.worlds import worlds
from x2softmax.evaluate.seeds import pooled_seed_variance
from x2softmax.io import atomic_path

RUN_KEYS = ("world", "lookalike_share", "size_exponent", "run", "loss", "seed")
KINDS = ("genuine", "lookalike", "random")
ACCURACY = {"overall": "overall 10-fold accuracy", "genuine": "genuine pair accuracy",
            "lookalike": "look-alike impostor accuracy", "random": "random impostor accuracy"}


def _csv(path: Path, columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """A CSV the study wrote, with the columns it needs; one clear error naming the file otherwise."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: not found (run `make replicate PRESET=mechanism`)")
    table = pd.read_csv(path)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    return table


def run_table(root: Path, config: Mapping[str, Any]) -> pd.DataFrame:
    """One row per world, run and benchmark: lookalike_share, size_exponent, loss, seed and the accuracy (%)
    overall and per pair kind (columns `overall`, genuine, lookalike, random)."""
    frames = []
    for world in worlds(config):
        train = world.synthetic["train"]
        kinds = _csv(Path(root) / world.name / "kinds.csv", ["run", "loss", "seed", "benchmark", "kind", "accuracy"])
        wide = kinds.pivot_table(index=["run", "loss", "seed", "benchmark"], columns="kind", values="accuracy")
        wide = (100.0 * wide).reset_index()
        overall = []
        for run in wide["run"].unique():
            metrics = _csv(Path(root) / world.name / "eval" / run / "metrics.csv",
                           ["dataset", "protocol", "metric", "value"])
            picked = metrics[(metrics["protocol"] == "10fold") & (metrics["metric"] == "accuracy_pct")]
            overall += [(run, dataset, value) for dataset, value in zip(picked["dataset"], picked["value"])]
        wide = wide.merge(pd.DataFrame(overall, columns=["run", "benchmark", "overall"]), on=["run", "benchmark"])
        wide.insert(0, "world", world.name)
        wide.insert(1, "lookalike_share", float(train["lookalike_share"]))
        wide.insert(2, "size_exponent", float(train["size_exponent"]))
        frames.append(wide)
    table = pd.concat(frames, ignore_index=True)
    for kind in KINDS:
        if kind not in table:
            table[kind] = float("nan")  # a benchmark without pairs of that kind
    return table[[*RUN_KEYS, "benchmark", "overall", *KINDS]]


def geometry_table(root: Path, config: Mapping[str, Any]) -> pd.DataFrame:
    """Every world's per-class head geometry with the world's name, look-alike share and size exponent."""
    frames = []
    for world in worlds(config):
        frame = _csv(Path(root) / world.name / "geometry.csv", ["run", "loss", "seed", "weight_angle_deg", M.KEPT,
                                                                 "train_accuracy", "analytic_margin_deg"])
        frame.insert(0, "world", world.name)
        frame.insert(1, "lookalike_share", float(world.synthetic["train"]["lookalike_share"]))
        frame.insert(2, "size_exponent", float(world.synthetic["train"]["size_exponent"]))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def dose_response_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Per benchmark and accuracy (overall, look-alike pairs), the dose-response table of every fixed-margin loss."""
    frames = []
    for benchmark, rows in runs.groupby("benchmark", sort=False):
        for metric in ("overall", "lookalike"):
            if rows[metric].notna().any():
                per_run = rows.assign(value=rows[metric])[list(M.COLUMNS)]
                frame = M.dose_response_table(per_run, pooled_seed_variance)
                frame.insert(0, "benchmark", benchmark)
                frame.insert(1, "metric", ACCURACY[metric])
                frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def lookalike_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Per benchmark with look-alike and random impostors both, the look-alike table of every fixed-margin loss."""
    frames = []
    for benchmark, rows in runs.groupby("benchmark", sort=False):
        if rows["lookalike"].notna().any() and rows["random"].notna().any():
            frame = M.lookalike_table(rows, pooled_seed_variance)
            frame.insert(0, "benchmark", benchmark)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def study_tables(root: Path, config: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Every table of the study (module docstring), by name (`vocabulary.STUDY_TABLES`)."""
    runs, geometry = run_table(root, config), geometry_table(root, config)
    slopes = M.run_slopes(geometry)
    return {"runs": runs, "run_slopes": slopes, "angle_bins": M.angle_bins(geometry), "dose_response": dose_response_rows(runs),
            "lookalike": lookalike_rows(runs), "margin_slopes": M.margin_table(slopes, pooled_seed_variance),
            "convergence": M.convergence_table(slopes, pooled_seed_variance)}


def write_study_tables(root: Path, config: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Write every study table as {out_dir}/{name}.csv atomically; return the paths."""
    paths = []
    for name, table in study_tables(root, config).items():
        path = Path(out_dir) / f"{name}.csv"
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False)
        paths.append(path)
    return paths
