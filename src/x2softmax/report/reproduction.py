"""The reproduction check: after `make replicate`, each regenerated number (reports/metrics.json) against the number
committed in git (`git show HEAD:reports/metrics.json`), with the regenerated 95 % bootstrap interval
(results/uncertainty/*_intervals.csv): difference, interval width, and whether the committed number lies inside
the regenerated interval. Written to reports/tables/reproduction.csv; the index shows it, `make replicate` prints
`summary_line`."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from x2softmax.io import atomic_path

KEYS = ["run", "dataset", "protocol", "metric"]
COLUMNS = [*KEYS, "committed", "regenerated", "difference", "ci_low", "ci_high", "interval_width", "within", "note"]
INTERVAL_TABLES = ("verification_intervals.csv", "ijb_intervals.csv", "identification_intervals.csv")


def flatten_metrics(nested: Any, where: str) -> pd.DataFrame:
    """reports/metrics.json (run -> dataset -> protocol -> metric -> value) as a tidy table of measured values."""
    if not isinstance(nested, dict):
        raise ValueError(f"{where}: not a run -> dataset -> protocol -> metric mapping")
    rows = []
    for run, datasets in nested.items():
        for dataset, protocols in (datasets or {}).items():
            for protocol, metrics in (protocols or {}).items():
                for metric, value in (metrics or {}).items():
                    if metric != "not_measurable" and isinstance(value, (int, float)) and not isinstance(value, bool):
                        rows.append({"run": run, "dataset": dataset, "protocol": protocol, "metric": metric,
                                     "value": float(value)})
    return pd.DataFrame(rows, columns=[*KEYS, "value"])


def committed_metrics(metrics_json: Path, repo: Path) -> tuple[dict | None, str]:
    """The metrics.json committed at HEAD of the git checkout `repo`, or None with the reason there is none."""
    repo = Path(repo).resolve()
    try:
        relative = Path(metrics_json).resolve().relative_to(repo).as_posix()
    except ValueError:
        return None, f"{metrics_json} is not inside the checkout {repo}: no committed version to compare"
    try:
        done = subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{relative}"], capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None, "git is not available: no committed version to compare"
    if done.returncode != 0:
        reason = "not a git checkout" if "not a git repository" in done.stderr else f"no {relative} committed at HEAD"
        return None, f"{reason}: no committed version to compare"
    try:
        return json.loads(done.stdout), f"HEAD:{relative}"
    except json.JSONDecodeError as err:
        raise ValueError(f"HEAD:{relative}: not valid JSON ({err.msg} at line {err.lineno})") from err


def _intervals(uncertainty_dir: Path) -> pd.DataFrame:
    """The regenerated 95 % intervals of every run, data set, protocol and metric."""
    frames = []
    for name in INTERVAL_TABLES:
        path = Path(uncertainty_dir) / name
        if path.is_file():
            frames.append(pd.read_csv(path)[[*KEYS, "ci_low", "ci_high"]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*KEYS, "ci_low", "ci_high"])


def compare(committed: pd.DataFrame, regenerated: pd.DataFrame, intervals: pd.DataFrame) -> pd.DataFrame:
    """Per number in either table: committed, regenerated, difference, the regenerated interval and its width,
    whether the committed number lies inside it (an end within 1e-9 counts as inside)."""
    both = committed.rename(columns={"value": "committed"}).merge(
        regenerated.rename(columns={"value": "regenerated"}), on=KEYS, how="outer").merge(intervals, on=KEYS,
                                                                                           how="left")
    both["difference"] = both["regenerated"] - both["committed"]
    both["interval_width"] = both["ci_high"] - both["ci_low"]
    within, notes = [], []
    for row in both.itertuples(index=False):
        if math.isnan(row.committed) or math.isnan(row.regenerated):
            within.append(None)
            notes.append("not committed" if math.isnan(row.committed) else "not regenerated")
        elif math.isnan(row.ci_low) or math.isnan(row.ci_high):
            within.append(None)
            notes.append("no interval for this number")
        else:
            within.append(bool(row.ci_low - 1e-9 <= row.committed <= row.ci_high + 1e-9))
            notes.append("")
    both["within"], both["note"] = within, notes
    return both[COLUMNS].sort_values(KEYS, kind="stable").reset_index(drop=True)


def reproduction_table(metrics_json: Path, uncertainty_dir: Path, repo: Path) -> tuple[pd.DataFrame, str]:
    """The comparison table and where the committed numbers came from (or why there is nothing to compare)."""
    path = Path(metrics_json)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: regenerated metrics not found (run the workflow first)")
    try:
        regenerated = flatten_metrics(json.loads(path.read_text(encoding="utf-8")), str(path))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from err
    nested, statement = committed_metrics(path, repo)
    if nested is None:
        return pd.DataFrame(columns=COLUMNS), statement
    return compare(flatten_metrics(nested, statement), regenerated, _intervals(uncertainty_dir)), statement


def summary_line(table: pd.DataFrame, statement: str) -> str:
    """"Reproduction: N of M numbers within their 95 % interval ..." (or the reason nothing was compared)."""
    judged = table["within"].dropna() if len(table) else pd.Series(dtype=object)
    if not len(judged):
        return f"Reproduction: nothing compared ({statement})."
    n = int(judged.astype(str).str.lower().eq("true").sum())
    return (f"Reproduction: {n} of {len(judged)} numbers within their 95 % interval "
            f"(regenerated vs {statement}; {len(table) - len(judged)} without an interval or a counterpart).")


def write_reproduction(table: pd.DataFrame, statement: str, out: Path) -> Path:
    """Write the table (its first line a comment naming the committed source) atomically."""
    with atomic_path(Path(out)) as tmp:
        Path(tmp).write_text(f"# committed: {statement}\n" + table.to_csv(index=False), encoding="utf-8")
    return Path(out)


def read_reproduction(path: Path) -> tuple[pd.DataFrame, str] | None:
    """A written reproduction table and its statement, or None when the check has not run."""
    path = Path(path)
    if not path.is_file():
        return None
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    statement = first.removeprefix("# committed: ") if first.startswith("# committed: ") else "unknown source"
    return pd.read_csv(path, comment=None, skiprows=1), statement
