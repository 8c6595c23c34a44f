"""The tidy metrics table: one row per (run, dataset, protocol, metric), per run and concatenated over runs.

Columns: run, loss, dataset, protocol, metric, value, checkpoint, note.

- dataset: lfw, cfp_fp, agedb_30, calfw, cplfw, vgg2_fp, IJBB, IJBC.
- protocol: "10fold" and "oracle" for the .bin sets; the IJB feature mode ("N1D1F2", ...) for IJB 1:1, "1N" for
  IJB 1:N identification.
- metric names carry their unit; FARs are spelled with two exponent digits (``f"{far:.0e}"``), so
  reference_numbers.csv's ``TAR_at_FAR_1e-4_pct`` is ``tar_at_far_1e-04_pct`` here:
  ``accuracy_pct``, ``accuracy_std_pct`` (population std of the 10 fold accuracies), ``val_at_far_1e-03_pct``,
  ``far_at_val_threshold_pct`` (the FAR measured at the VAL threshold), ``embedding_norm`` (mean norm of the
  unnormalised f(x) and f(flip(x)), as insightface's XNorm), ``threshold_cos`` (the oracle cosine threshold),
  ``tar_at_far_1e-06_pct`` ... ``tar_at_far_1e-01_pct``; 1:N: ``rank_1_pct``, ``rank_5_pct``, ``rank_10_pct``,
  ``tpir_at_fpir_1e-04_pct`` ... ``tpir_at_fpir_1e+00_pct``.
- value: full precision; percentages are 100 x the fraction.
- checkpoint: the first 12 hex digits of the sha256 of the evaluated backbone.pt.
- note: empty, or why the value is missing (an empty value): a TAR or VAL at a FAR below 1 / (impostor pairs),
  a TPIR at an FPIR below 1 / (non-mated probes) is "not measurable: ..." and is never shown as a number or
  compared with a published one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from x2softmax.evaluate.identification import not_measurable_reason
from x2softmax.io import atomic_path

COLUMNS = ("run", "loss", "dataset", "protocol", "metric", "value", "checkpoint", "note")
Row = tuple[str, float, str]  # (metric, value or NaN, note)


def metric_at_far(prefix: str, far: float) -> str:
    """Metric name of a rate at a FAR in percent, e.g. ("tar", 1e-4) -> "tar_at_far_1e-04_pct"."""
    return f"{prefix}_at_far_{far:.0e}_pct"


def verification_rows(result: dict[str, Any]) -> list[Row]:
    """(metric, value, note) rows of one evaluate_pairs result; VAL below the measurable FAR is missing."""
    rows = [("accuracy_pct", 100.0 * result["accuracy"], "")]
    if result["protocol"] == "10fold":
        val_metric = metric_at_far("val", result["far_target"])
        if result["far_target"] >= result["lowest_measurable_far"]:
            val_rows = [(val_metric, 100.0 * result["val"], ""), ("far_at_val_threshold_pct", 100.0 * result["far"], "")]
        else:
            note = (f"not measurable: FAR {result['far_target']:.0e} < 1/(impostor pairs of the smallest training "
                    f"split) ({result['lowest_measurable_far']:.2e})")
            val_rows = [(val_metric, math.nan, note), ("far_at_val_threshold_pct", math.nan, note)]
        rows += [("accuracy_std_pct", 100.0 * result["std"], ""), *val_rows]
        if result.get("embedding_norm") is not None:
            rows.append(("embedding_norm", result["embedding_norm"], ""))
    else:
        rows.append(("threshold_cos", result["thresholds"][0], ""))
    return rows


def ijb_rows(tar_at_far: dict[float, float | None], not_measurable: dict[str, str] | None = None) -> list[Row]:
    """(metric, value, note) rows of a TAR@FAR dict (FAR -> TAR fraction, None/NaN where not measurable)."""
    notes = not_measurable or {}
    rows = []
    for far, tar in tar_at_far.items():
        missing = tar is None or math.isnan(tar)
        note = notes.get(f"{far:.0e}", "not measurable") if missing else ""
        rows.append((metric_at_far("tar", far), math.nan if missing else 100.0 * tar, note))
    return rows


def metric_at_fpir(fpir: float) -> str:
    """Metric name of the 1:N TPIR at an FPIR in percent, e.g. 1e-2 -> "tpir_at_fpir_1e-02_pct"."""
    return f"tpir_at_fpir_{fpir:.0e}_pct"


def rank_metric(rank: int) -> str:
    """Metric name of the 1:N rank-k identification rate in percent, e.g. 1 -> "rank_1_pct"."""
    return f"rank_{rank}_pct"


def identification_rows(result: dict[str, Any]) -> list[Row]:
    """(metric, value, note) rows of an identification result: rank-k rates, then TPIR at each FPIR (missing
    below 1 / non-mated probes, with the reason)."""
    rows = [(rank_metric(int(k)), 100.0 * rate, "") for k, rate in result["rank_rate"].items()]
    non_mated = min(g["non_mated"] for g in result["galleries"].values())
    for fpir, tpir in zip(result["fpirs"], result["tpir"]):
        missing = tpir is None or math.isnan(tpir)
        note = not_measurable_reason(fpir, non_mated) if missing else ""
        rows.append((metric_at_fpir(fpir), math.nan if missing else 100.0 * tpir, note))
    return rows


def write_metrics(rows: Sequence[dict[str, Any]], path: Path) -> pd.DataFrame:
    """Write tidy metric rows (dicts with the COLUMNS keys) to a CSV atomically; return the table."""
    table = pd.DataFrame(list(rows), columns=list(COLUMNS))
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return table


def read_metrics(path: Path) -> pd.DataFrame:
    """Read and check one tidy metrics.csv; a clear error names the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: metrics file not found")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable CSV ({err})") from err
    if tuple(table.columns) != COLUMNS:
        raise ValueError(f"{path}: columns {list(table.columns)} differ from the tidy layout {list(COLUMNS)}")
    values = pd.to_numeric(table["value"], errors="coerce")
    bad = values.isna() & ((table["value"] != "") | (table["note"] == ""))
    if bad.any():
        raise ValueError(f"{path}: non-numeric value (or a missing one without a note) in line(s) "
                         f"{(bad[bad].index + 2).tolist()[:5]}")
    table["value"] = values.astype(float)
    empty = (table[["run", "dataset", "protocol", "metric"]] == "").any(axis=1)
    if empty.any():
        lines = (empty[empty].index + 2).tolist()[:5]
        raise ValueError(f"{path}: empty run/dataset/protocol/metric in line(s) {lines}")
    return table


def combine_metrics(paths: Sequence[Path], out_csv: Path) -> pd.DataFrame:
    """Concatenate per-run metrics.csv files into one tidy table, written atomically to out_csv."""
    if not paths:
        raise ValueError(f"{out_csv}: no per-run metrics files to combine")
    tables = [read_metrics(Path(p)) for p in paths]
    combined = pd.concat(tables, ignore_index=True)
    duplicated = combined.duplicated(subset=["run", "dataset", "protocol", "metric"], keep=False)
    if duplicated.any():
        first = combined[duplicated].iloc[0]
        raise ValueError(
            f"{out_csv}: metric {first['metric']} of run {first['run']} on {first['dataset']} ({first['protocol']}) "
            "appears in more than one input file"
        )
    return write_metrics(combined.to_dict("records"), out_csv)


def metrics_json(frame: pd.DataFrame) -> dict[str, Any]:
    """The tidy table nested run -> dataset -> protocol -> metric -> value (for `dvc metrics diff`); a missing value
    is null and its reason sits under the protocol's "not_measurable" -> metric."""
    nested: dict[str, Any] = {}
    for row in frame.itertuples(index=False):
        cell = nested.setdefault(row.run, {}).setdefault(row.dataset, {}).setdefault(row.protocol, {})
        value = float(row.value)
        if math.isnan(value):
            cell[row.metric] = None
            cell.setdefault("not_measurable", {})[row.metric] = row.note or "missing"
        else:
            cell[row.metric] = value
    return nested
