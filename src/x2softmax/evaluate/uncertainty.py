"""Uncertainty tables: bootstrap intervals per run, mean ± std over seeds, paired X2-vs-baseline differences.

Reads what `x2softmax evaluate` wrote per run (metrics.csv, verification_scores.npz, ijb_{suite}_scores.npz), the
runs' training summaries (loss, seed) and the IJB meta files (pairs → templates), and writes into out_dir:

- verification_intervals.csv: accuracy per run, set and protocol with its 95 % bootstrap interval (unit: pairs,
  resampled within each of the 10 folds; the whole protocol, threshold choice included, is re-run per replicate);
  The oracle protocols' intervals are noted as optimistic with their simulated coverage (`optimistic_note`);
- ijb_intervals.csv: TAR@FAR per run and suite with its 95 % interval (unit: templates, calibrated for the crossed
  pair design, see x2softmax.evaluate.bootstrap); unmeasurable FARs are missing with their reason;
- identification_intervals.csv: IJB 1:N rank-k and TPIR@FPIR per run and suite with its 95 % interval (unit: probe
  templates, the galleries fixed; one resample shared by every run); unmeasurable FPIRs are missing with their reason;
- seed_summary.csv: per loss/ablation (base run), mean, sample std and spread (max − min) over its seeds, and its
  rank by mean among the base runs (1 = best);
- measurable_far.csv: per suite the impostor pairs and the lowest measurable FAR (1 / impostor pairs);
- paired_comparisons.csv: X2 minus each baseline on the same pairs/templates/probes and the same seeds, with a 95 %
  interval that carries the test-set noise (the shared resampling weights) and the training noise (the seed
  variance pooled over the losses trained with several seeds, x2softmax.evaluate.seeds), and the verdict of that
  interval; `note` says what the interval holds, test_low/test_high give the test-set-only interval.

`power_table` turns the paired table into the half-width of each interval against POWER_TARGETS (the pages show it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from x2softmax.config import base_run
from x2softmax.data.ijb import IDENTIFICATION_FILES, load_ijb_suite, template_rows
from x2softmax.evaluate.bootstrap import (fold_stratified_weights, identification_boot, ijb_replicates,
                                          percentile_interval, protocol_weights, resample_counts,
                                          verification_boot)
from x2softmax.evaluate.coverage import STATED_COVERAGE
from x2softmax.evaluate.curves import lowest_measurable_far
from x2softmax.evaluate.identification import search_from_arrays
from x2softmax.evaluate.seeds import SeedPool, interval_contents, pooled_seed_variance, trained_interval
from x2softmax.evaluate.summary import metric_at_far, metric_at_fpir, rank_metric, read_metrics
from x2softmax.io import atomic_path, file_sha256
from x2softmax.vocabulary import FARS, FPIRS, IDENTIFICATION, RANKS, UNCERTAINTY_TABLES

VERDICTS = ("X2 better", "no detectable difference", "X2 worse")
UNSTABLE = "unstable over seeds"  # the seeds' own verdicts disagree and their spread leaves the mean's interval
IDENTICAL = "identical networks"  # the verdict when X2's and the baseline's backbones are byte-identical
ZERO_TOLERANCE = 1e-9  # percentage points: interval ends closer to 0 than this touch 0
# Power targets: the largest half-width (percentage points) of a paired X2 - baseline 95 % interval that can tell
# losses apart, per metric (LFW-style accuracy; IJB TAR@FAR=1e-3). Other metrics have no target.
POWER_TARGETS = {"accuracy_pct": 1.0, "tar_at_far_1e-03_pct": 3.0}
UNITS = {"ijb": "templates", IDENTIFICATION: "probe templates"}  # the resampled unit (else pairs within folds)
OPTIMISTIC_PROTOCOLS = ("oracle", "oracle_flip")  # point estimate chosen on the test pairs: intervals under-cover


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


def seed_verdict(low: float, high: float, seed_intervals: Sequence[tuple[float, float]],
                 seed_values: Sequence[float]) -> str:
    """The verdict of the seed-mean interval [low, high], stated only when it survives a rerun with another seed.

    It stands when every seed's own interval (`seed_intervals`, test-set noise) gives the same verdict; a decisive
    verdict (X2 better / worse) also stands when the spread of the per-seed differences (`seed_values`) lies inside
    [low, high]. Otherwise (seeds that disagree about a difference, or that disagree while the mean shows none) it is
    UNSTABLE. One seed: the plain verdict (nothing to compare).
    """
    mean = verdict(low, high)
    if not mean or len(seed_values) < 2:
        return mean
    if all(verdict(lo, hi) == mean for lo, hi in seed_intervals):
        return mean
    finite = [v for v in seed_values if not math.isnan(v)]
    inside = bool(finite) and low - ZERO_TOLERANCE <= min(finite) and max(finite) <= high + ZERO_TOLERANCE
    return mean if mean != VERDICTS[1] and inside else UNSTABLE


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


Replicates = dict[tuple[str, str, str], dict[str, np.ndarray]]
Differences = dict[tuple[str, str, str], dict[tuple[str, str], np.ndarray]]


def _replicates(info: pd.DataFrame, eval_root: Path, data_root: Path, suites: Sequence[str], n_boot: int,
                seed: int, comparisons: Sequence[tuple[str, str]], threads: int = 1
                ) -> tuple[Replicates, Differences, list[dict[str, Any]]]:
    """(dataset, protocol, metric) -> run -> [B] replicates, with shared weights per data set; the same key ->
    (run a, run b) -> [B] replicates of a - b for each compared pair; measurable FARs. The runs of a verification
    key are bootstrapped on `threads` threads (numpy releases the GIL); the weights are drawn in key order on this
    thread, each key's while the threads bootstrap the previous key's runs."""
    rng = np.random.default_rng(seed)
    pair_rng = np.random.default_rng([seed, 1])  # the IJB pair bootstrap: the template draws stay as they were
    reps: Replicates = {}
    diffs: Differences = {}
    runs = list(info["run"])
    scores = {run: dict(np.load(Path(eval_root) / run / "verification_scores.npz")) for run in runs}
    keys = sorted({k for run in runs for k in scores[run] if not k.endswith("/issame")})
    pool = ThreadPoolExecutor(max_workers=max(1, threads))

    def collect(dataset: str, protocol: str, futures: dict[str, Future]) -> None:
        by_run = {run: future.result() for run, future in futures.items()}
        reps[(dataset, protocol, "accuracy_pct")] = by_run
        diffs[(dataset, protocol, "accuracy_pct")] = {(a, b): by_run[a] - by_run[b] for a, b in comparisons
                                                      if a in by_run and b in by_run}

    pending = None  # the previous key's runs, collected once the next key's weights are drawn beside them
    for key in keys:
        dataset, protocol = key.split("/")
        issame = scores[runs[0]][f"{dataset}/issame"].astype(bool)
        # one draw per key, in key order; cast once into the form the protocol reads, shared by every run
        weights = protocol_weights(fold_stratified_weights(len(issame), n_boot, rng), issame, protocol)
        futures = {run: pool.submit(_accuracy_boot, scores[run][key], issame, protocol, weights)
                   for run in runs if key in scores[run]}
        if pending is not None:
            collect(*pending)
        pending = (dataset, protocol, futures)
    if pending is not None:
        collect(*pending)
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
        by_run = {}
        for run in runs:
            data = np.load(Path(eval_root) / run / f"ijb_{suite}_scores.npz")
            if not np.array_equal(data["labels"].astype(bool), labels):
                raise ValueError(f"{eval_root}/{run}/ijb_{suite}_scores.npz: labels differ from {data_root}/{suite}")
            by_run[run] = data["scores"]
        tars, tar_diffs = ijb_replicates(by_run, labels, rows, len(templates), fars, n_boot, rng, pair_rng,
                                         comparisons, pool=pool)
        for j, far in enumerate(fars):
            reps[(suite, "ijb", metric_at_far("tar", far))] = {run: 100.0 * tars[run][:, j] for run in runs}
            diffs[(suite, "ijb", metric_at_far("tar", far))] = {pair: 100.0 * d[:, j] for pair, d in tar_diffs.items()}
    id_rng = np.random.default_rng([seed, 2])  # 1:N probe draws: the verification and 1:1 draws stay as they were
    for suite in suites:
        for metric, by_run in _identification_replicates(runs, eval_root, suite, n_boot, id_rng, pool).items():
            reps[(suite, IDENTIFICATION, metric)] = by_run
            diffs[(suite, IDENTIFICATION, metric)] = {(a, b): by_run[a] - by_run[b] for a, b in comparisons}
    pool.shutdown()
    return reps, diffs, measurable


def _accuracy_boot(scores: np.ndarray, issame: np.ndarray, protocol: str, weights: Any) -> np.ndarray:
    """[B] accuracy replicates (percent) of one run and verification key."""
    return 100.0 * verification_boot(scores, issame, protocol, weights)


def _identification_replicates(runs: Sequence[str], eval_root: Path, suite: str, n_boot: int,
                               rng: np.random.Generator, pool: ThreadPoolExecutor
                               ) -> dict[str, dict[str, np.ndarray]]:
    """1:N metric -> run -> [B] replicates (percent) under one probe-template resampling shared by every run, the
    runs on the `pool`'s threads; only the FPIRs measurable on the full probe set (the same for every run: it
    depends on the lists only)."""
    arrays = {}
    for run in runs:
        path = Path(eval_root) / run / f"ijb_{suite}_1N.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: 1:N results not found (run `x2softmax evaluate` on {suite})")
        arrays[run] = dict(np.load(path))
        if not np.array_equal(arrays[run]["probe/templates"], arrays[runs[0]]["probe/templates"]):
            raise ValueError(f"{path}: probe templates differ from those of run {runs[0]}")
    first = arrays[runs[0]]
    n_probes = len(first["probe/templates"])
    non_mated = min(int((~first[f"{g}/mated"].astype(bool)).sum()) for g in IDENTIFICATION_FILES[:2])
    fpirs = [f for f in FPIRS if int(non_mated * f) >= 1]
    weights = resample_counts(n_probes, n_boot, rng)

    def boot_of(run: str) -> dict[str, np.ndarray]:
        searches = [search_from_arrays(arrays[run], g) for g in IDENTIFICATION_FILES[:2]]
        return identification_boot(searches, n_probes, weights, fpirs, RANKS)

    out: dict[str, dict[str, np.ndarray]] = {}
    for run, boot in zip(runs, pool.map(boot_of, runs)):
        for k in RANKS:
            out.setdefault(rank_metric(k), {})[run] = 100.0 * boot[f"rank_{k}"]
        for i, fpir in enumerate(fpirs):
            out.setdefault(metric_at_fpir(fpir), {})[run] = 100.0 * boot[f"tpir_{i}"]
    return out


def uncertainty_tables(runs: Sequence[str], eval_root: Path, train_root: Path, data_root: Path,
                       suites: Sequence[str], x2_run: str | None, n_boot: int = 1000,
                       seed: int = 0, threads: int = 1) -> dict[str, pd.DataFrame]:
    """Compute every uncertainty table (module docstring) for the given runs; returns name -> table."""
    info = pd.DataFrame([_run_info(train_root, run) for run in runs])
    metrics = pd.concat([read_metrics(Path(eval_root) / run / "metrics.csv") for run in runs], ignore_index=True)
    reps, diffs, measurable = _replicates(info, eval_root, data_root, suites, n_boot, seed,
                                          _comparisons(info, x2_run), threads=threads)
    ijb_protocol = {s: metrics.loc[(metrics["dataset"] == s) & (metrics["protocol"] != IDENTIFICATION),
                                   "protocol"].iloc[0] for s in suites}

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
            note = "; ".join(part for part in (note, optimistic_note(proto)) if part)
            rows.append({"run": run, "dataset": dataset, "protocol": proto, "metric": metric, "value": value,
                         "ci_low": float(low), "ci_high": float(high), "replicates": n_boot,
                         "unit": UNITS.get(protocol, "pairs within folds"), "note": note})
    for entry in measurable:  # unmeasurable TAR cells: missing, with their reason
        for far in FARS:
            if far < entry["lowest_measurable_far"]:
                metric = metric_at_far("tar", far)
                for run in runs:
                    note = point.loc[(run, entry["dataset"], ijb_protocol[entry["dataset"]], metric), "note"]
                    rows.append({"run": run, "dataset": entry["dataset"], "protocol": ijb_protocol[entry["dataset"]],
                                 "metric": metric, "value": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                                 "replicates": 0, "unit": "templates", "note": note})
    unmeasured = metrics[(metrics["protocol"] == IDENTIFICATION) & metrics["value"].isna()
                         & metrics["dataset"].isin(list(suites))]
    for row in unmeasured.itertuples(index=False):  # 1:N cells below 1 / non-mated probes: missing, with the reason
        rows.append({"run": row.run, "dataset": row.dataset, "protocol": IDENTIFICATION, "metric": row.metric,
                     "value": math.nan, "ci_low": math.nan, "ci_high": math.nan, "replicates": 0,
                     "unit": UNITS[IDENTIFICATION], "note": row.note})
    intervals = info.merge(pd.DataFrame(rows), on="run")
    is_identification = intervals["protocol"] == IDENTIFICATION
    is_ijb = intervals["dataset"].isin(list(suites)) & ~is_identification
    intervals["far"] = pd.to_numeric(intervals["metric"].str.extract(r"^tar_at_far_(.+)_pct$")[0], errors="coerce")
    seeds = _seed_summary(intervals)
    paired = _paired(info, diffs, intervals, x2_run, protocol_of)
    return {"verification_intervals": intervals[~intervals["dataset"].isin(list(suites))].reset_index(drop=True),
            "ijb_intervals": intervals[is_ijb].reset_index(drop=True),
            "identification_intervals": intervals[is_identification].reset_index(drop=True),
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


def _seed_runs(info: pd.DataFrame) -> dict[str, dict[int, str]]:
    """Base run -> seed -> run name."""
    return {base: dict(zip(group["seed"], group["run"])) for base, group in info.groupby("base_run")}


def _comparisons(info: pd.DataFrame, x2_run: str | None) -> list[tuple[str, str]]:
    """(X2 run, baseline run) of every paired comparison: each other base run at each seed it shares with X2."""
    if x2_run is None or x2_run not in set(info["base_run"]):
        return []
    seed_runs = _seed_runs(info)
    return [(seed_runs[x2_run][s], seed_runs[baseline][s]) for baseline in dict.fromkeys(info["base_run"])
            if baseline != x2_run for s in sorted(set(seed_runs[x2_run]) & set(seed_runs[baseline]))]


def seed_pools(intervals: pd.DataFrame) -> dict[tuple[str, str, str], SeedPool]:
    """(dataset, protocol, metric) -> the between-seed variance of one run pooled over the base runs trained with
    two seeds or more (`x2softmax.evaluate.seeds.pooled_seed_variance`)."""
    pools = {}
    for key, group in intervals.groupby(["dataset", "protocol", "metric"], sort=False):
        pools[key] = pooled_seed_variance({base: list(rows["value"]) for base, rows in group.groupby("base_run",
                                                                                                      sort=False)})
    return pools


def _paired(info: pd.DataFrame, diffs: Differences, intervals: pd.DataFrame,
            x2_run: str | None, protocol_of: Any) -> pd.DataFrame:
    """X2 minus each other loss run on the same resamples and seeds: difference, 95 % interval that carries the
    test-set noise and the training noise (`x2softmax.evaluate.seeds.trained_interval`, the seed variance pooled per
    data set, protocol and metric), verdict, and what the interval holds (`note`).

    A baseline whose backbones are byte-identical to X2's at every common seed gets the verdict IDENTICAL (the
    interval is [0, 0] because the same network was evaluated twice, not because the losses were compared).
    """
    columns = ["baseline", "dataset", "protocol", "metric", "seeds", "x2_mean", "baseline_mean", "difference",
               "ci_low", "ci_high", "verdict", "note", "seed_differences", "seed_low", "seed_high", "test_low",
               "test_high", "seed_sd", "seed_df", "interval_df"]
    if x2_run is None or x2_run not in set(info["base_run"]):
        return pd.DataFrame(columns=columns)
    seed_runs = _seed_runs(info)
    sha = dict(zip(info["run"], info["backbone_sha256"]))
    value = intervals.set_index(["run", "dataset", "protocol", "metric"])["value"]
    pools = seed_pools(intervals)
    rows = []
    for baseline in dict.fromkeys(info["base_run"]):
        if baseline == x2_run:
            continue
        common = sorted(set(seed_runs[x2_run]) & set(seed_runs[baseline]))
        x2 = [seed_runs[x2_run][s] for s in common]
        base = [seed_runs[baseline][s] for s in common]
        identical = all(sha[a] == sha[b] for a, b in zip(x2, base))
        for (dataset, protocol, metric), by_pair in diffs.items():
            proto = protocol_of(dataset, protocol)
            seed_reps = np.stack([by_pair[(a, b)] for a, b in zip(x2, base)], axis=1)  # [B, seeds]
            x2_values = [value[(r, dataset, proto, metric)] for r in x2]
            base_values = [value[(r, dataset, proto, metric)] for r in base]
            per_seed = np.subtract(x2_values, base_values).astype(float)
            pool = SeedPool(math.nan, 0, ()) if identical else pools[(dataset, proto, metric)]  # identical: [0, 0]
            interval = trained_interval(float(np.mean(per_seed)), seed_reps, pool)
            test_low, test_high = (float(v) for v in percentile_interval(seed_reps.mean(axis=1)))
            rows.append({"baseline": baseline, "dataset": dataset, "protocol": proto, "metric": metric,
                         "seeds": " ".join(map(str, common)), "x2_mean": float(np.mean(x2_values)),
                         "baseline_mean": float(np.mean(base_values)), "difference": float(np.mean(per_seed)),
                         "ci_low": interval.low, "ci_high": interval.high,
                         "verdict": IDENTICAL if identical else verdict(interval.low, interval.high),
                         "note": "byte-identical trained backbones: the same network evaluated twice" if identical
                         else interval_contents(pool),
                         "seed_differences": " ".join(f"{d:.6g}" for d in per_seed),
                         "seed_low": float(np.min(per_seed)), "seed_high": float(np.max(per_seed)),
                         "test_low": test_low, "test_high": test_high, "seed_sd": math.sqrt(pool.variance),
                         "seed_df": pool.df, "interval_df": interval.df})
    return pd.DataFrame(rows, columns=columns)


def optimistic_note(protocol: str) -> str:
    """The note of an interval of an oracle protocol: optimistic, with the coverage measured by simulation."""
    if protocol not in OPTIMISTIC_PROTOCOLS:
        return ""
    return (f"optimistic: threshold chosen on the test pairs; the 95 % interval covered "
            f"{STATED_COVERAGE['verification']['oracle']:.0%} in simulation (bench/coverage.py)")


def power_table(paired: pd.DataFrame, datasets: Iterable[str] | None = None) -> pd.DataFrame:
    """Per paired comparison (of `datasets` only, if given) the half-width of its 95 % interval (points), the target
    of its metric (POWER_TARGETS; missing where none) and whether the half-width meets it."""
    if datasets is not None:
        paired = paired[paired["dataset"].isin(list(datasets))]
    half = (paired["ci_high"].astype(float) - paired["ci_low"].astype(float)) / 2.0
    target = paired["metric"].map(POWER_TARGETS).astype(float)
    meets = [("" if math.isnan(t) or math.isnan(h) else bool(h <= t)) for h, t in zip(half, target)]
    return pd.DataFrame({"baseline": paired["baseline"], "dataset": paired["dataset"],
                         "protocol": paired["protocol"], "metric": paired["metric"], "seeds": paired["seeds"],
                         "half_width": half, "target": target, "meets_target": meets}).reset_index(drop=True)


def write_uncertainty(tables: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """Write the tables as out_dir/{name}.csv atomically; missing values are empty cells with a note."""
    paths = []
    for name in UNCERTAINTY_TABLES:
        path = Path(out_dir) / f"{name}.csv"
        _write(tables[name], path)
        paths.append(path)
    return paths
