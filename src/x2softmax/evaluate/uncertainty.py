"""Uncertainty tables: bootstrap intervals per run, mean ± std over seeds, paired X2-vs-baseline differences.

Reads what `x2softmax evaluate` wrote per run (metrics.csv, verification_scores.npz, ijb_{suite}_scores.npz), the
runs' training summaries (loss, seed) and the IJB meta files (pairs → templates), and writes into out_dir:

- verification_intervals.csv: accuracy per run, set and protocol with its 95 % bootstrap interval (unit: pairs,
  resampled within each of the 10 folds; the whole protocol, threshold choice included, is re-run per replicate);
- ijb_intervals.csv: TAR@FAR per run and suite with its 95 % interval (unit: templates, see
  x2softmax.evaluate.bootstrap); unmeasurable FARs are missing with their reason;
- seed_summary.csv: per loss/ablation (base run), mean, sample std and spread (max − min) over its seeds, and its
  rank by mean among the base runs (1 = best);
- measurable_far.csv: per suite the impostor pairs and the lowest measurable FAR (1 / impostor pairs);
- paired_comparisons.csv: X2 minus each baseline on the same pairs/templates and the same seeds, with a 95 %
  interval (one bootstrap: the shared resampling weights and a resample of the common seeds) and a verdict.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from x2softmax.config import base_run
from x2softmax.data.ijb import load_ijb_suite
from x2softmax.evaluate.bootstrap import (fold_stratified_weights, ijb_tar_boot, percentile_interval,
                                          template_weights, verification_boot)
from x2softmax.evaluate.ijb import FARS, lowest_measurable_far, template_rows
from x2softmax.evaluate.summary import metric_at_far, read_metrics
from x2softmax.io import atomic_path, file_sha256

LEVEL = 0.95
VERDICTS = ("X2 better", "no detectable difference", "X2 worse")
IDENTICAL = "identical networks"  # the verdict when X2's and the baseline's backbones are byte-identical
ZERO_TOLERANCE = 1e-9  # percentage points: interval ends closer to 0 than this touch 0
TABLES = ("verification_intervals", "ijb_intervals", "seed_summary", "measurable_far", "paired_comparisons")


def verdict(low: float, high: float) -> str:
    """The plain verdict of an interval of X2 minus a baseline (higher is better): which side of 0 it lies on.

    An end within ZERO_TOLERANCE of 0 counts as 0 (the interval touches it): a difference of accuracies summed from
    pair counts can land a rounding error (~1e-14) beside an exact 0.
    """
    if math.isnan(low) or math.isnan(high):
        return ""
    if low > ZERO_TOLERANCE:
        return VERDICTS[0]
    if high < -ZERO_TOLERANCE:
        return VERDICTS[2]
    return VERDICTS[1]


def _run_info(train_root: Path, run: str) -> dict[str, Any]:
    """Loss and seed of a trained run, from its summary.json, and the sha256 of its backbone.pt."""
    path = Path(train_root) / run / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: training summary not found")
    backbone = Path(train_root) / run / "backbone.pt"
    if not backbone.is_file():
        raise FileNotFoundError(f"{backbone}: trained backbone not found")
    spec = json.loads(path.read_text())["spec"]
    return {"run": run, "base_run": base_run(run), "loss": spec["loss"]["name"], "seed": int(spec["train"]["seed"]),
            "backbone_sha256": file_sha256(backbone)}


def _write(table: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def _replicates(info: pd.DataFrame, eval_root: Path, data_root: Path, suites: Sequence[str], n_boot: int,
                seed: int) -> tuple[dict[tuple[str, str, str], dict[str, np.ndarray]], list[dict[str, Any]]]:
    """(dataset, protocol, metric) -> run -> [B] replicates, with shared weights per data set; measurable FARs."""
    rng = np.random.default_rng(seed)
    reps: dict[tuple[str, str, str], dict[str, np.ndarray]] = {}
    runs = list(info["run"])
    scores = {run: dict(np.load(Path(eval_root) / run / "verification_scores.npz")) for run in runs}
    keys = sorted({k for run in runs for k in scores[run] if not k.endswith("/issame")})
    for key in keys:
        dataset, protocol = key.split("/")
        issame = scores[runs[0]][f"{dataset}/issame"].astype(bool)
        weights = fold_stratified_weights(len(issame), n_boot, rng)
        reps[(dataset, protocol, "accuracy_pct")] = {
            run: 100.0 * verification_boot(scores[run][key], issame, protocol, weights)
            for run in runs if key in scores[run]}
    measurable = []
    for suite in suites:
        meta = load_ijb_suite(Path(data_root) / suite, suite)
        templates = np.unique(meta.template_ids)
        rows = template_rows(templates, meta.pairs)
        labels = np.asarray(meta.labels).astype(bool)
        n_impostors = int((~labels).sum())
        floor = lowest_measurable_far(n_impostors)
        measurable.append({"dataset": suite, "pairs": len(labels), "impostor_pairs": n_impostors,
                           "templates": len(templates), "lowest_measurable_far": floor})
        fars = [far for far in FARS if far >= floor]
        weights = template_weights(len(templates), n_boot, rng)
        by_run = {}
        for run in runs:
            data = np.load(Path(eval_root) / run / f"ijb_{suite}_scores.npz")
            if not np.array_equal(data["labels"].astype(bool), labels):
                raise ValueError(f"{eval_root}/{run}/ijb_{suite}_scores.npz: labels differ from {data_root}/{suite}")
            by_run[run] = data["scores"]
        tars = ijb_tar_boot(by_run, labels, rows, len(templates), fars, weights)
        for j, far in enumerate(fars):
            reps[(suite, "ijb", metric_at_far("tar", far))] = {run: 100.0 * tars[run][:, j] for run in runs}
    return reps, measurable


def uncertainty_tables(runs: Sequence[str], eval_root: Path, train_root: Path, data_root: Path,
                       suites: Sequence[str], x2_run: str | None, n_boot: int = 1000,
                       seed: int = 0) -> dict[str, pd.DataFrame]:
    """Compute every uncertainty table (module docstring) for the given runs; returns name -> table."""
    info = pd.DataFrame([_run_info(train_root, run) for run in runs])
    metrics = pd.concat([read_metrics(Path(eval_root) / run / "metrics.csv") for run in runs], ignore_index=True)
    reps, measurable = _replicates(info, eval_root, data_root, suites, n_boot, seed)
    ijb_protocol = {s: metrics.loc[metrics["dataset"] == s, "protocol"].iloc[0] for s in suites}

    def protocol_of(dataset: str, protocol: str) -> str:
        return ijb_protocol[dataset] if protocol == "ijb" else protocol

    point = metrics.set_index(["run", "dataset", "protocol", "metric"])[["value", "note"]]
    rows = []
    for run in runs:
        for (dataset, protocol, metric), by_run in reps.items():
            proto = protocol_of(dataset, protocol)
            value, note = point.loc[(run, dataset, proto, metric)] if (run, dataset, proto, metric) in point.index \
                else (math.nan, "not evaluated")
            low, high = percentile_interval(by_run[run]) if run in by_run else (math.nan, math.nan)
            rows.append({"run": run, "dataset": dataset, "protocol": proto, "metric": metric, "value": value,
                         "ci_low": float(low), "ci_high": float(high), "replicates": n_boot,
                         "unit": "templates" if protocol == "ijb" else "pairs within folds", "note": note})
    for entry in measurable:  # unmeasurable TAR cells: missing, with their reason
        for far in FARS:
            if far < entry["lowest_measurable_far"]:
                metric = metric_at_far("tar", far)
                for run in runs:
                    note = point.loc[(run, entry["dataset"], ijb_protocol[entry["dataset"]], metric), "note"]
                    rows.append({"run": run, "dataset": entry["dataset"], "protocol": ijb_protocol[entry["dataset"]],
                                 "metric": metric, "value": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                                 "replicates": 0, "unit": "templates", "note": note})
    intervals = info.merge(pd.DataFrame(rows), on="run")
    is_ijb = intervals["dataset"].isin(list(suites))
    intervals["far"] = pd.to_numeric(intervals["metric"].str.extract(r"^tar_at_far_(.+)_pct$")[0], errors="coerce")
    seeds = _seed_summary(intervals)
    paired = _paired(info, reps, intervals, x2_run, n_boot, seed, protocol_of)
    return {"verification_intervals": intervals[~is_ijb].reset_index(drop=True),
            "ijb_intervals": intervals[is_ijb].reset_index(drop=True),
            "seed_summary": seeds, "measurable_far": pd.DataFrame(measurable), "paired_comparisons": paired}


def _seed_summary(intervals: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std over the seeds of each base run, per data set, protocol and metric; the spread (max − min
    over the seeds) and the run's rank by mean among the base runs of the same cell (1 = highest; ties share the
    lower rank; every metric here is higher-is-better)."""
    rows = []
    for (base, loss, dataset, protocol, metric), group in intervals.groupby(
            ["base_run", "loss", "dataset", "protocol", "metric"], sort=False):
        values = group["value"].to_numpy(dtype=float)
        n = int(np.isfinite(values).sum())
        note = group["note"].iloc[0] if n == 0 else ("one seed: no spread" if n == 1 else "")
        rows.append({"base_run": base, "loss": loss, "dataset": dataset, "protocol": protocol, "metric": metric,
                     "seeds": " ".join(str(s) for s in sorted(group["seed"])), "n_seeds": n,
                     "mean": float(np.nanmean(values)) if n else math.nan,
                     "std": float(np.nanstd(values, ddof=1)) if n > 1 else math.nan,
                     "spread": float(np.nanmax(values) - np.nanmin(values)) if n > 1 else math.nan, "note": note})
    table = pd.DataFrame(rows)
    if not len(table):
        return table.assign(rank=pd.Series(dtype=float))
    ranks = table.groupby(["dataset", "protocol", "metric"], sort=False)["mean"].rank(ascending=False, method="min")
    return table.assign(rank=ranks.astype("Int64"))


def _paired(info: pd.DataFrame, reps: dict[tuple[str, str, str], dict[str, np.ndarray]], intervals: pd.DataFrame,
            x2_run: str | None, n_boot: int, seed: int, protocol_of: Any) -> pd.DataFrame:
    """X2 minus each other loss run on the same resamples and seeds: difference, 95 % interval, verdict.

    A baseline whose backbones are byte-identical to X2's at every common seed gets the verdict IDENTICAL (the
    interval is [0, 0] because the same network was evaluated twice, not because the losses were compared).
    """
    columns = ["baseline", "dataset", "protocol", "metric", "seeds", "x2_mean", "baseline_mean", "difference",
               "ci_low", "ci_high", "verdict", "note"]
    if x2_run is None or x2_run not in set(info["base_run"]):
        return pd.DataFrame(columns=columns)
    rng = np.random.default_rng(seed + 1)
    seed_runs = {base: dict(zip(group["seed"], group["run"])) for base, group in info.groupby("base_run")}
    sha = dict(zip(info["run"], info["backbone_sha256"]))
    value = intervals.set_index(["run", "dataset", "protocol", "metric"])["value"]
    rows = []
    for baseline in dict.fromkeys(info["base_run"]):
        if baseline == x2_run:
            continue
        common = sorted(set(seed_runs[x2_run]) & set(seed_runs[baseline]))
        pick = rng.integers(0, len(common), size=(n_boot, len(common)))  # seeds resampled with replacement
        x2 = [seed_runs[x2_run][s] for s in common]
        base = [seed_runs[baseline][s] for s in common]
        identical = all(sha[a] == sha[b] for a, b in zip(x2, base))
        for (dataset, protocol, metric), by_run in reps.items():
            proto = protocol_of(dataset, protocol)
            diffs = np.stack([by_run[a] - by_run[b] for a, b in zip(x2, base)], axis=1)  # [B, seeds]
            boot = np.take_along_axis(diffs, pick, axis=1).mean(axis=1)
            low, high = percentile_interval(boot)
            x2_values = [value[(r, dataset, proto, metric)] for r in x2]
            base_values = [value[(r, dataset, proto, metric)] for r in base]
            rows.append({"baseline": baseline, "dataset": dataset, "protocol": proto, "metric": metric,
                         "seeds": " ".join(map(str, common)), "x2_mean": float(np.mean(x2_values)),
                         "baseline_mean": float(np.mean(base_values)),
                         "difference": float(np.mean(np.subtract(x2_values, base_values))),
                         "ci_low": float(low), "ci_high": float(high),
                         "verdict": IDENTICAL if identical else verdict(float(low), float(high)),
                         "note": "byte-identical trained backbones: the same network evaluated twice" if identical
                         else "" if len(common) > 1 else "one common seed: test-set noise only"})
    return pd.DataFrame(rows, columns=columns)


def write_uncertainty(tables: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """Write the tables as out_dir/{name}.csv atomically; missing values are empty cells with a note."""
    paths = []
    for name in TABLES:
        path = Path(out_dir) / f"{name}.csv"
        _write(tables[name], path)
        paths.append(path)
    return paths
