"""Result files → the tables and sentences the report notebooks show (pure pandas, unit-tested)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from x2softmax.io import read_json
from x2softmax.losses import display_names
from x2softmax.vocabulary import FARS, IJB_SUITES, LABELS, far_key

# Dataset names of metrics.csv → benchmark names of reference_numbers.csv.
REFERENCE_BENCHMARKS = LABELS
NOT_STATED = "not stated"  # a reference label (training data, protocol) its cited source does not give
SUMMARY_COLUMNS = ("run", "loss", "dataset", "protocol", "metric", "value", "checkpoint")
REFERENCE_COLUMNS = ("method", "backbone", "train_data", "benchmark", "metric", "value", "protocol", "source")


def benchmark_order(datasets: Iterable[str]) -> list[str]:
    """The data sets in the report's one benchmark order (REFERENCE_BENCHMARKS'; unknown ones after, as given)."""
    rank = {name: i for i, name in enumerate(REFERENCE_BENCHMARKS)}
    unique = list(dict.fromkeys(datasets))
    return sorted(unique, key=lambda name: (rank.get(name, len(rank)), unique.index(name)))


def read_table(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """Read a CSV that must have `columns`; a clear error naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (it should have been produced by the workflow)")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable CSV ({err})") from err
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")
    return frame


def read_metrics_and_reference(summary_csv: Path, reference_csv: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The run's metrics (results/summary/metrics.csv) and the published numbers (config/reference_numbers.csv)."""
    return read_table(Path(summary_csv), SUMMARY_COLUMNS), read_table(Path(reference_csv), REFERENCE_COLUMNS)


def pair_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a frame with a `dataset` column on the pair benchmarks (an IJB suite's rows are page 04's)."""
    return frame[~frame["dataset"].isin(IJB_SUITES)]


def accuracy_rows(summary: pd.DataFrame, runs: Sequence[str]) -> pd.DataFrame:
    """The accuracies of `runs` on the pair benchmarks under the 10fold and oracle protocols (the accuracy figures)."""
    return pair_rows(summary[summary["run"].isin(runs) & (summary["metric"] == "accuracy_pct")
                             & summary["protocol"].isin(["10fold", "oracle"])])


def read_jsonl(path: Path) -> pd.DataFrame:
    """Read a JSON-lines file into a frame; a clear error naming the file and line when one is malformed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (it should have been produced by the workflow)")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not valid JSON ({err.msg})") from err
    return pd.DataFrame(rows)


def margin_shape(theta_deg: np.ndarray, margin_deg: np.ndarray, tol_deg: float = 0.05) -> str:
    """'constant', 'increasing', 'decreasing', 'U-shaped' or 'non-monotone' for a margin curve (NaNs ignored)."""
    theta = np.asarray(theta_deg, dtype=np.float64)
    margin = np.asarray(margin_deg, dtype=np.float64)
    keep = np.isfinite(margin)
    margin = margin[keep][np.argsort(theta[keep])]
    if margin.size < 2:
        return "undefined"
    if margin.max() - margin.min() <= tol_deg:
        return "constant"
    steps = np.diff(margin)
    if np.all(steps >= -tol_deg):
        return "increasing"
    if np.all(steps <= tol_deg):
        return "decreasing"
    low = int(np.argmin(margin))
    if np.all(steps[:low] <= tol_deg) and np.all(steps[low:] >= -tol_deg):
        return "U-shaped"
    return "non-monotone"


def _margin_at(curve: pd.DataFrame, angle: float) -> float:
    """Margin (deg) of one loss's curve at the tabulated θ_w nearest to `angle` (NaN if none within 0.5°)."""
    distance = (curve["theta_w_deg"] - angle).abs()
    if distance.min() > 0.5:
        return float("nan")
    return float(curve.loc[distance.idxmin(), "margin_deg"])


HALF_CIRCLE_DEG = 180.0  # a "margin" wider than this is no margin: the class wins only near its antipode


def margin_at_angles(angular: pd.DataFrame, angles: Sequence[float]) -> pd.DataFrame:
    """One row per loss: its margin shape, where a margin exists, its minimum, and its value at each angle; a margin
    wider than the half circle (ArcFace below θ_w = m) counts as no margin, so shapes read the real margins only."""
    rows = []
    angular = angular.assign(margin_deg=angular["margin_deg"].where(angular["margin_deg"] <= HALF_CIRCLE_DEG))
    for loss, curve in angular.groupby("loss", sort=False):
        finite = curve[np.isfinite(curve["margin_deg"])]
        row: dict[str, Any] = {"loss": loss, "shape": margin_shape(curve["theta_w_deg"], curve["margin_deg"])}
        row["exists_from_deg"] = float(finite["theta_w_deg"].min()) if len(finite) else float("nan")
        if len(finite):
            low = finite.loc[finite["margin_deg"].idxmin()]
            row["min_margin_deg"], row["min_at_deg"] = float(low["margin_deg"]), float(low["theta_w_deg"])
        else:
            row["min_margin_deg"] = row["min_at_deg"] = float("nan")
        for angle in angles:
            row[f"margin_at_{angle:g}_deg"] = _margin_at(curve, angle)
        rows.append(row)
    return pd.DataFrame(rows)


def x2_grid_minimum(grid_margins: pd.DataFrame) -> pd.DataFrame:
    """Per (param, a, h, k) setting of the X2 grid: margin shape, minimum margin and where, margins at 90° and 180°."""
    rows = []
    for (param, a, h, k), curve in grid_margins.groupby(["param", "a", "h", "k"], sort=False):
        finite = curve[np.isfinite(curve["margin_deg"])]
        low = finite.loc[finite["margin_deg"].idxmin()] if len(finite) else None
        rows.append(
            {
                "param": param, "a": a, "h": h, "k": k,
                "shape": margin_shape(curve["theta_w_deg"], curve["margin_deg"]),
                "exists_from_deg": float(finite["theta_w_deg"].min()) if len(finite) else float("nan"),
                "min_margin_deg": float(low["margin_deg"]) if low is not None else float("nan"),
                "min_at_deg": float(low["theta_w_deg"]) if low is not None else float("nan"),
                "margin_at_90_deg": _margin_at(curve, 90.0),
                "margin_at_180_deg": _margin_at(curve, 180.0),
            }
        )
    return pd.DataFrame(rows)


def _runs_rows(summary: pd.DataFrame, runs: Sequence[str]) -> pd.DataFrame:
    """Rows of the summary that belong to `runs`; a clear error for a run without any row."""
    missing = [r for r in runs if r not in set(summary["run"])]
    if missing:
        raise ValueError(f"summary metrics have no rows for run(s) {missing}; present: {sorted(set(summary['run']))}")
    return summary[summary["run"].isin(runs)]


def verification_table(summary: pd.DataFrame, runs: Sequence[str]) -> pd.DataFrame:
    """Run × (dataset, protocol) accuracy (%), with the 10-fold std beside its mean; runs in the given order."""
    rows = _runs_rows(summary, runs)
    rows = rows[rows["metric"].isin(["accuracy_pct", "accuracy_std_pct"]) & rows["protocol"].isin(["10fold", "oracle"])]
    rows = rows[~rows["dataset"].isin(IJB_SUITES)]
    keyed = rows.assign(column=rows["dataset"] + " " + rows["protocol"] + rows["metric"].map(
        {"accuracy_pct": "", "accuracy_std_pct": " std"}))
    wide = keyed.pivot_table(index="run", columns="column", values="value", aggfunc="first", sort=False)
    datasets = benchmark_order(rows["dataset"])
    order = [
        col for ds in datasets for col in (f"{ds} 10fold", f"{ds} 10fold std", f"{ds} oracle") if col in wide.columns
    ]
    wide = wide.reindex(index=[r for r in runs if r in wide.index], columns=order)
    losses = rows.drop_duplicates("run").set_index("run")["loss"]
    wide.insert(0, "loss", losses.reindex(wide.index))
    return wide.reset_index()


def _reference_metric(metric: str) -> str:
    """A metrics.csv metric name in reference_numbers.csv spelling (tar_at_far_1e-04_pct → TAR_at_FAR_1e-4_pct)."""
    if metric.startswith("tar_at_far_"):
        exponent = metric.removeprefix("tar_at_far_").removesuffix("_pct")
        mantissa, power = exponent.split("e")
        return f"TAR_at_FAR_{mantissa}e{int(power)}_pct"
    return metric


def reference_comparison(
    summary: pd.DataFrame, reference: pd.DataFrame, runs: Sequence[str], *, synthetic: bool
) -> pd.DataFrame:
    """This run's value next to every published number for the same loss, benchmark and metric, and the difference
    (only where the two are comparable: real data, same protocol, measurable).

    Accuracies are compared under the 10-fold protocol (the published one), IJB numbers under N1D1F2.
    """
    rows = _runs_rows(summary, runs)
    rows = rows[rows["protocol"].isin(["10fold", "N1D1F2"])]
    ours = rows.assign(
        method=rows["loss"].map(display_names()),  # reference_numbers.csv spells methods so
        benchmark=rows["dataset"].map(REFERENCE_BENCHMARKS),
        ref_metric=rows["metric"].map(_reference_metric),
    )
    merged = ours.merge(
        reference.rename(columns={"value": "reference_value", "protocol": "reference_protocol"}),
        left_on=["method", "benchmark", "ref_metric"],
        right_on=["method", "benchmark", "metric"],
        suffixes=("", "_reference"),
    )
    same_protocol = np.array([_same_protocol(ours_p, theirs) for ours_p, theirs in
                              zip(merged["protocol"], merged["reference_protocol"])], dtype=bool)
    measurable = merged["value"].notna()
    merged["difference"] = (merged["value"] - merged["reference_value"]).where(
        measurable & same_protocol & (not synthetic))  # never a difference between synthetic and published numbers
    merged["comparable"] = np.select(
        [~measurable, merged["reference_protocol"] == NOT_STATED, ~same_protocol],
        ["no: not measurable on this run's pairs", "no: the source does not state its protocol",
         "no: published under another protocol"],
        "no: synthetic data" if synthetic else "yes: same metric and protocol (check backbone and training data)")
    columns = [
        "run", "loss", "dataset", "metric", "protocol", "value", "reference_value", "difference", "method",
        "backbone", "train_data", "reference_protocol", "source", "comparable",
    ]
    return merged[columns].reset_index(drop=True)


def reference_layout(comparison: pd.DataFrame) -> pd.DataFrame:
    """The reader's layout of `reference_comparison`: what is compared and whether it is comparable first, then the
    numbers (the difference only when some row has one), then the published row's provenance."""
    first = ["run", "dataset", "comparable", "value", "reference_value"]
    difference = ["difference"] if comparison["difference"].notna().any() else []
    rest = ["method", "source", "backbone", "train_data", "reference_protocol", "protocol", "metric", "loss"]
    return comparison[first + difference + rest].reset_index(drop=True)


def _same_protocol(ours: str, published: str) -> bool:
    """Whether a published number was measured under this run's protocol ("10fold" ~ "10-fold flip...")."""
    family = {"10fold": "10-fold flip", "N1D1F2": "N1D1F2"}.get(ours, ours)
    return str(published).startswith(family)


def ijb_tar_table(
    summary: pd.DataFrame, reference: pd.DataFrame, runs: Sequence[str], suites: Sequence[str]
) -> pd.DataFrame:
    """TAR (%) at each FAR per run and suite (protocol N1D1F2), followed by the published rows for those suites.

    Every row names its protocol; a published row measured under another protocol gets its own columns
    ("TAR@FAR=1e-04 IJBC (AdaFace own IJB script ...)"), never this run's. A missing value of this run is a FAR
    it cannot measure (below 1 / impostor pairs).
    """
    rows = _runs_rows(summary, runs)
    rows = rows[(rows["protocol"] == "N1D1F2") & rows["dataset"].isin(suites)]
    far_of = {f"tar_at_far_{far_key(far)}_pct": far_key(far) for far in FARS}
    rows = rows[rows["metric"].isin(far_of)]
    ours = rows.assign(
        source="this run",
        suite=rows["dataset"],
        far=rows["metric"].map(far_of),
        method=rows["run"],
        backbone="",
        train_data="",
    )
    ref_metric = {_reference_metric(m): far for m, far in far_of.items()}
    bench_of = {REFERENCE_BENCHMARKS[s]: s for s in suites if s in REFERENCE_BENCHMARKS}
    ref = reference[reference["benchmark"].isin(bench_of) & reference["metric"].isin(ref_metric)]
    ref = ref.assign(suite=ref["benchmark"].map(bench_of), far=ref["metric"].map(ref_metric))
    keys = ["method", "backbone", "train_data", "protocol", "source"]
    both = pd.concat([ours[keys + ["suite", "far", "value"]], ref[keys + ["suite", "far", "value"]]])
    other = ~both["protocol"].astype(str).str.startswith("N1D1F2")
    both = both.assign(column="TAR@FAR=" + both["far"] + " " + both["suite"]
                       + np.where(other, " (" + both["protocol"].astype(str) + ")", ""))
    cells = both.groupby(keys + ["column"], sort=False, dropna=False)["value"].first()  # NaN kept: not measurable
    wide = cells.unstack("column").reindex(pd.MultiIndex.from_frame(both[keys].drop_duplicates()))
    order = [f"TAR@FAR={far_key(far)} {suite}" for suite in suites for far in FARS]
    extra = [c for c in dict.fromkeys(both["column"]) if c not in order]
    tar_columns = [c for c in order + extra if c in wide.columns]
    table = wide.reindex(columns=tar_columns).reset_index()
    # the row's identity first (method and source tell the published ArcFace rows apart), numbers, then provenance
    return table[["method", "source", *tar_columns, "backbone", "train_data", "protocol"]]


def tar_layout(table: pd.DataFrame) -> pd.DataFrame:
    """`ijb_tar_table` as page 04 shows it: the FARs this run measures first, then those it cannot measure (below
    1 / impostor pairs: published numbers only), labelled so; a FAR with no number in any row is left out (the
    footnote names what cannot be measured); a column is named by its FAR and suite (the caption says TAR),
    backbone, training data and protocol share one column."""
    table = table.drop(columns=[c for c in table.columns if str(c).startswith("TAR@FAR=") and table[c].isna().all()])
    tar = [c for c in table.columns if str(c).startswith("TAR@FAR=")]
    ours = table[table["source"] == "this run"]
    unmeasured = [c for c in tar if "(" not in c and len(ours) and ours[c].isna().all()]  # this run's protocol
    provenance = [" · ".join(str(v) for v in values if isinstance(v, str) and v)
                  for values in zip(table["backbone"], table["train_data"], table["protocol"])]
    order = [*[c for c in table.columns if c not in unmeasured and c not in ("backbone", "train_data", "protocol")],
             *unmeasured]
    names = {c: c.removeprefix("TAR@FAR=") + (" not measurable here" if c in unmeasured else "") for c in tar}
    return table[order].rename(columns=names).assign(**{"backbone · data · protocol": provenance})


def roc_points(scores: np.ndarray, labels: np.ndarray, max_points: int = 2000) -> pd.DataFrame:
    """ROC curve (FAR, TAR) of genuine/impostor scores, subsampled evenly in log-FAR for plotting."""
    from x2softmax.evaluate.curves import roc_curve  # scikit-learn's, transcribed: the page need not import it

    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("an ROC curve needs both genuine (label 1) and impostor (label 0) pairs")
    fpr, tpr, _ = roc_curve(labels, np.asarray(scores, dtype=np.float64))
    keep = fpr > 0
    fpr, tpr = fpr[keep], tpr[keep]
    if len(fpr) > max_points:
        grid = np.geomspace(fpr[0], 1.0, max_points)
        idx = np.unique(np.clip(np.searchsorted(fpr, grid), 0, len(fpr) - 1))
        fpr, tpr = fpr[idx], tpr[idx]
    return pd.DataFrame({"far": fpr, "tar": tpr})


def training_curves(train_dir: Path, runs: Sequence[str]) -> pd.DataFrame:
    """The training log lines (those with a loss) of every run's metrics.jsonl, with a run column."""
    frames = []
    for run in runs:
        path = Path(train_dir) / run / "metrics.jsonl"
        log = read_jsonl(path)
        if "loss" not in log.columns or "step" not in log.columns:
            raise ValueError(f"{path}: no training lines with 'step' and 'loss'")
        frames.append(log[log["loss"].notna()].assign(run=run))
    return pd.concat(frames, ignore_index=True)


def _peak_memory_mb(summary: Mapping[str, Any]) -> float:
    """The peak memory (MB) a training summary reports under a key containing 'peak' (NaN if none)."""
    for key, value in summary.items():
        if "peak" in key and isinstance(value, (int, float)):
            return float(value)
    return float("nan")


def training_cost_table(train_dir: Path, benchmarks_dir: Path, runs: Sequence[str]) -> pd.DataFrame:
    """Per training job: steps, wall time, images/s, peak memory (summary.json) and Snakemake's benchmark numbers
    (wall s, max RSS MB, CPU s, mean CPU load in % of one core); every column names its unit."""
    rows = []
    for run in runs:
        summary = read_json(Path(train_dir) / run / "summary.json")
        row: dict[str, Any] = {
            "run": run,
            "loss": summary.get("loss", summary.get("spec", {}).get("loss", {}).get("name")),
            "steps": summary.get("steps"),
            "wall_time_s": summary.get("wall_time_s"),
            "images_per_s": summary.get("images_per_s"),
            "peak_memory_mb": _peak_memory_mb(summary),
            "device": summary.get("device"),
        }
        bench = Path(benchmarks_dir) / f"train_{run}.tsv"
        if bench.is_file():
            table = pd.read_csv(bench, sep="\t")
            for column in ("s", "max_rss", "cpu_time", "mean_load"):
                if column not in table.columns:
                    raise ValueError(f"{bench}: missing column {column!r}; found {list(table.columns)}")
            row.update(
                job_s=float(table["s"].iloc[-1]),
                job_max_rss_mb=pd.to_numeric(table["max_rss"], errors="coerce").iloc[-1],
                job_cpu_time_s=float(table["cpu_time"].iloc[-1]),
                # Snakemake's mean_load: the job's CPU percent averaged over its run time (100 = one core busy)
                job_mean_load_pct_of_one_core=pd.to_numeric(table["mean_load"], errors="coerce").iloc[-1],
            )
        rows.append(row)
    return pd.DataFrame(rows)


def ablation_table(
    summary: pd.DataFrame, ablations: Mapping[str, Mapping[str, Any]], default_run: str
) -> pd.DataFrame:
    """The default run and its ablations: their overrides, 10-fold and oracle accuracy per benchmark, and Δ to the
    default run."""
    runs = [default_run, *[name for name in ablations if name != default_run]]
    table = verification_table(summary, runs).set_index("run")
    accuracy = [c for c in table.columns if c.endswith((" 10fold", " oracle"))]
    for column in accuracy:
        table[f"Δ {column}"] = table[column] - table.loc[default_run, column]
    overrides = {default_run: "defaults"} | {
        name: ", ".join(f"{k}={v}" for k, v in spec.get("hparams", {}).items()) or "defaults"
        for name, spec in ablations.items()
    }
    table.insert(1, "overrides", [overrides[r] for r in table.index])
    return table.reset_index()


def geometry_summary(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per run: quantiles of the nearest-centre angle and the realised margin, and their rank correlation with size."""
    rows = []
    for run, frame in frames.items():
        angles = frame["nearest_angle_deg"]
        margins = frame["margin_deg"]
        counts = frame["count"]
        has_counts = counts.notna().all() and counts.nunique() > 1
        rows.append(
            {
                "run": run,
                "classes": len(frame),
                "angle_min_deg": angles.min(),
                "angle_q05_deg": angles.quantile(0.05),
                "angle_median_deg": angles.median(),
                "angle_q95_deg": angles.quantile(0.95),
                "angle_max_deg": angles.max(),
                "margin_min_deg": margins.min(),
                "margin_median_deg": margins.median(),
                "margin_max_deg": margins.max(),
                "no_margin_classes": int(margins.isna().sum()) if not frame.attrs.get("margin_note") else len(frame),
                "spearman_angle_vs_count": angles.corr(counts, method="spearman") if has_counts else float("nan"),
                "note": frame.attrs.get("margin_note", ""),
            }
        )
    return pd.DataFrame(rows)


def not_run_note(promised: Sequence[str], present: Sequence[str], what: str, why: str) -> str:
    """Markdown naming what a page's title promises but this configuration did not run ('' when nothing is missing)."""
    have = set(present)
    missing = [name for name in promised if name not in have]
    return f"**Not run in this configuration:** {what} {', '.join(missing)} ({why})." if missing else ""


PAPER_ABLATIONS = ("a", "h", "k", "gradient")  # what page 06's title promises: X2's a, h, k and its gradient mode


def ablated_parameters(ablations: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The X2 hyperparameters (and 'gradient') that at least one ablation overrides."""
    return sorted({key for spec in ablations.values() for key in spec.get("hparams", {})})
