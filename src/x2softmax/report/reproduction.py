"""The reproduction check after `make replicate`, against what is committed at HEAD, in three parts:

- numbers: each regenerated number (reports/metrics.json) against the committed one (`git show
  HEAD:reports/metrics.json`), judged against the interval of a rerun: the regenerated value ± t · sqrt(2 s²), s²
  the between-seed variance pooled over the losses with several seeds (x2softmax.evaluate.seeds.rerun_half_width:
  a rerun retrains every network); where no loss has two seeds, the regenerated test-set bootstrap interval
  (training noise not measured);
- verdicts: every paired X2-vs-baseline verdict (results/uncertainty/paired_comparisons.csv against the committed
  reports/tables/03_ and 04_paired_comparisons.csv) and every claim of the scoreboard (reports/tables/claims.csv),
  agreeing or not, and whether a verdict reversed sign (X2 better <-> X2 worse, holds <-> does not hold);
- environment: the CPU model and instruction set, threads and library versions of the regenerated numbers
  (results/environment.json) against those recorded for the committed pages (reports/environment.json at HEAD, or
  the index's training environment table for pages committed before that file existed).

Written to reports/tables/reproduction.csv (numbers; comment lines name the committed source and the environment
difference) and reproduction_verdicts.csv beside it; the index shows them, `make replicate` prints
`summary_line`."""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Callable, Mapping
from html import unescape
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from x2softmax.evaluate.seeds import rerun_half_width
from x2softmax.evaluate.uncertainty import VERDICTS, seed_pools
from x2softmax.io import atomic_path
from x2softmax.report.provenance import NUMERIC_LIBRARIES, environment_difference

KEYS = ["run", "dataset", "protocol", "metric"]
COLUMNS = [*KEYS, "committed", "regenerated", "difference", "ci_low", "ci_high", "interval_width", "within", "note"]
INTERVAL_TABLES = ("verification_intervals.csv", "ijb_intervals.csv", "identification_intervals.csv")
PAIRED_KEYS = ["baseline", "dataset", "protocol", "metric"]
CLAIM_KEYS = ["claim", "subject", "benchmark", "metric"]
PAIRED_TABLES = ("03_paired_comparisons.csv", "04_paired_comparisons.csv")  # committed under reports/tables
VERDICT_COLUMNS = ["kind", "key", "committed", "regenerated", "agree", "reversed"]
OPPOSITES = ({VERDICTS[0], VERDICTS[2]}, {"holds", "does not hold"})
ENVIRONMENT_JSON = "environment.json"  # the committed copy under reports/ of results/environment.json


class Reproduction(NamedTuple):
    """A written reproduction check: the numbers, where the committed ones came from, the verdicts compared and the
    environment difference (one line per differing field; empty: the same environment)."""

    numbers: pd.DataFrame
    statement: str
    verdicts: pd.DataFrame
    environment: list[str]


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


def committed_text(path: Path, repo: Path) -> tuple[str | None, str]:
    """The text of `path` committed at HEAD of the git checkout `repo`, or None with the reason there is none."""
    repo = Path(repo).resolve()
    try:
        relative = Path(path).resolve().relative_to(repo).as_posix()
    except ValueError:
        return None, f"{path} is not inside the checkout {repo}: no committed version to compare"
    try:
        done = subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{relative}"], capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None, "git is not available: no committed version to compare"
    if done.returncode != 0:
        reason = "not a git checkout" if "not a git repository" in done.stderr else f"no {relative} committed at HEAD"
        return None, f"{reason}: no committed version to compare"
    return done.stdout, f"HEAD:{relative}"


def committed_metrics(metrics_json: Path, repo: Path) -> tuple[dict | None, str]:
    """The metrics.json committed at HEAD of the git checkout `repo`, or None with the reason there is none."""
    text, statement = committed_text(metrics_json, repo)
    if text is None:
        return None, statement
    try:
        return json.loads(text), statement
    except json.JSONDecodeError as err:
        raise ValueError(f"{statement}: not valid JSON ({err.msg} at line {err.lineno})") from err


def environment_from_index(page: str) -> dict[str, Any] | None:
    """The environment record shown in an index page's "Training environment" table (None when it has none)."""
    section = page.split("<h2>Training environment</h2>", 1)
    if len(section) < 2:
        return None
    body = section[1].split("<h2>", 1)[0]
    record: dict[str, Any] = {"libraries": {}}
    for key, value in re.findall(r"<tr><td>(.*?)</td><td><code>(.*?)</code></td></tr>", body):
        key, value = unescape(key), unescape(value)
        if key in NUMERIC_LIBRARIES:
            record["libraries"][key] = value
        else:
            record[key.replace(" ", "_")] = value
    return record if len(record) > 1 else None


def committed_environment(reports_dir: Path, repo: Path) -> tuple[dict[str, Any] | None, str]:
    """The environment recorded for the committed pages: reports/environment.json at HEAD, else the committed
    index's training environment table; None with the reason when neither is committed."""
    text, source = committed_text(Path(reports_dir) / ENVIRONMENT_JSON, repo)
    if text is not None:
        try:
            return json.loads(text), source
        except json.JSONDecodeError as err:
            raise ValueError(f"{source}: not valid JSON ({err.msg} at line {err.lineno})") from err
    page, source = committed_text(Path(reports_dir) / "index.html", repo)
    record = environment_from_index(page) if page is not None else None
    return record, (source if record is not None else "no environment recorded for the committed pages")


def _intervals(uncertainty_dir: Path) -> pd.DataFrame:
    """The regenerated interval of a rerun of every run, data set, protocol and metric: value ± rerun_half_width of
    its cell's pooled seed variance, else the test-set bootstrap interval (`note` says which)."""
    frames = []
    for name in INTERVAL_TABLES:
        path = Path(uncertainty_dir) / name
        if path.is_file():
            frames.append(pd.read_csv(path))
    if not frames:
        return pd.DataFrame(columns=[*KEYS, "ci_low", "ci_high", "interval"])
    table = pd.concat(frames, ignore_index=True)
    pools = seed_pools(table)
    half = [rerun_half_width(pools[key]) for key in zip(table["dataset"], table["protocol"], table["metric"])]
    table["interval"] = ["" if math.isnan(h) else "rerun: test set and training noise" for h in half]
    trained = table["interval"] != ""
    table.loc[trained, "ci_low"] = table.loc[trained, "value"] - pd.Series(half)[trained]
    table.loc[trained, "ci_high"] = table.loc[trained, "value"] + pd.Series(half)[trained]
    return table[[*KEYS, "ci_low", "ci_high", "interval"]]


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
            notes.append("" if row.interval else "test-set interval: training noise not measured")
    both["within"], both["note"] = within, notes
    return both[COLUMNS].sort_values(KEYS, kind="stable").reset_index(drop=True)


def _read_committed_csv(path: Path, repo: Path) -> pd.DataFrame | None:
    """A CSV table committed at HEAD, or None when it is not committed."""
    from io import StringIO

    text, source = committed_text(path, repo)
    if text is None:
        return None
    try:
        return pd.read_csv(StringIO(text), keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{source}: not a readable CSV table ({err})") from err


def _verdict_rows(kind: str, committed: pd.DataFrame | None, regenerated: pd.DataFrame | None, keys: list[str],
                  text: Callable[[pd.Series, str], str]) -> list[dict[str, Any]]:
    """The verdicts of `kind` present in both tables, agreeing or not."""
    if committed is None or regenerated is None or not set(keys) <= set(committed) or not set(keys) <= set(
            regenerated):
        return []
    both = committed.merge(regenerated, on=keys, suffixes=("_c", "_r"))
    rows = []
    for _, row in both.iterrows():
        old, new = text(row, "_c"), text(row, "_r")
        rows.append({"kind": kind, "key": " · ".join(str(row[k]) for k in keys), "committed": old,
                     "regenerated": new, "agree": old == new,
                     "reversed": any({old.split(" (")[0], new.split(" (")[0]} == pair for pair in OPPOSITES)})
    return rows


def _paired_text(row: pd.Series, suffix: str) -> str:
    """A paired comparison's verdict in the committed (suffix _c) or regenerated (_r) table."""
    value = row[f"verdict{suffix}"]
    return value if isinstance(value, str) else ""


def _claim_text(row: pd.Series, suffix: str) -> str:
    """A claim's verdict, with this run's result where it differs ('not testable here (X2 better)')."""
    verdict, result = (row[f"{c}{suffix}"] for c in ("verdict", "result"))
    verdict = verdict if isinstance(verdict, str) else ""
    return f"{verdict} ({result})" if isinstance(result, str) and result and result != verdict else verdict


def verdict_agreement(reports_dir: Path, uncertainty_dir: Path, repo: Path,
                      claims: pd.DataFrame | None) -> pd.DataFrame:
    """Every paired X2-vs-baseline verdict and every claim (this run's result beside a 'not testable' verdict)
    regenerated against the committed one (VERDICT_COLUMNS)."""
    tables = [t for t in (_read_committed_csv(Path(reports_dir) / "tables" / name, repo) for name in PAIRED_TABLES)
              if t is not None]
    committed_paired = pd.concat(tables, ignore_index=True) if tables else None
    path = Path(uncertainty_dir) / "paired_comparisons.csv"
    regenerated_paired = pd.read_csv(path) if path.is_file() else None
    rows = _verdict_rows("paired", committed_paired, regenerated_paired, PAIRED_KEYS, _paired_text)
    rows += _verdict_rows("claim", _read_committed_csv(Path(reports_dir) / "tables" / "claims.csv", repo), claims,
                          CLAIM_KEYS, _claim_text)
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def reproduction_check(metrics_json: Path, uncertainty_dir: Path, repo: Path, environment: Mapping[str, Any] | None,
                       claims: pd.DataFrame | None = None) -> Reproduction:
    """The three parts of the check (module docstring); `environment` is the regenerated results/environment.json
    and `claims` the regenerated scoreboard (None: claims not compared)."""
    path = Path(metrics_json)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: regenerated metrics not found (run the workflow first)")
    try:
        regenerated = flatten_metrics(json.loads(path.read_text(encoding="utf-8")), str(path))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from err
    nested, statement = committed_metrics(path, repo)
    if nested is None:
        return Reproduction(pd.DataFrame(columns=COLUMNS), statement, pd.DataFrame(columns=VERDICT_COLUMNS), [])
    numbers = compare(flatten_metrics(nested, statement), regenerated, _intervals(uncertainty_dir))
    verdicts = verdict_agreement(path.parent, uncertainty_dir, repo, claims)
    recorded, source = committed_environment(path.parent, repo)
    if recorded is None or environment is None:
        differences = [f"not compared ({source if recorded is None else 'no regenerated environment record'})"]
    else:
        differences = environment_difference(recorded, environment)
    return Reproduction(numbers, statement, verdicts, differences)


def _verdict_part(verdicts: pd.DataFrame, kind: str, label: str) -> str:
    """'N of M label agree (K reversed)', or that they were not compared."""
    rows = verdicts[verdicts["kind"] == kind]
    if not len(rows):
        return f"{label}: not compared"
    agree = int(rows["agree"].astype(str).str.lower().eq("true").sum())
    flipped = int(rows["reversed"].astype(str).str.lower().eq("true").sum())
    return f"{agree} of {len(rows)} {label} agree ({flipped} reversed)"


def summary_line(check: Reproduction) -> str:
    """"Reproduction: N of M numbers within their rerun interval; verdicts ...; environment ..." (or the reason
    nothing was compared)."""
    table = check.numbers
    judged = table["within"].dropna() if len(table) else pd.Series(dtype=object)
    if not len(judged):
        return f"Reproduction: nothing compared ({check.statement})."
    n = int(judged.astype(str).str.lower().eq("true").sum())
    environment = ("the same CPU, instruction set, threads and libraries" if not check.environment
                   else "; ".join(check.environment))
    return (f"Reproduction: {n} of {len(judged)} numbers within their 95 % rerun interval (test set and training "
            f"noise); {_verdict_part(check.verdicts, 'paired', 'paired verdicts')}, "
            f"{_verdict_part(check.verdicts, 'claim', 'claims')}; environment: {environment} "
            f"(regenerated vs {check.statement}; {len(table) - len(judged)} numbers without an interval or a "
            f"counterpart).")


def verdicts_path(out: Path) -> Path:
    """Where the verdict comparison is written beside the numbers (reproduction_verdicts.csv)."""
    return Path(out).with_name(Path(out).stem + "_verdicts.csv")


def write_reproduction(check: Reproduction, out: Path) -> Path:
    """Write the numbers (comment lines: the committed source, each environment difference) and the verdicts
    atomically."""
    header = f"# committed: {check.statement}\n" + "".join(f"# environment: {line}\n" for line in check.environment)
    with atomic_path(Path(out)) as tmp:
        Path(tmp).write_text(header + check.numbers.to_csv(index=False), encoding="utf-8")
    with atomic_path(verdicts_path(out)) as tmp:
        check.verdicts.to_csv(tmp, index=False)
    return Path(out)


def read_reproduction(path: Path) -> Reproduction | None:
    """A written reproduction check, or None when it has not run."""
    path = Path(path)
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").split("\n")
    comments = [line for line in lines if line.startswith("# ")]
    statement = next((c.removeprefix("# committed: ") for c in comments if c.startswith("# committed: ")),
                     "unknown source")
    environment = [c.removeprefix("# environment: ") for c in comments if c.startswith("# environment: ")]
    verdicts = (pd.read_csv(verdicts_path(path)) if verdicts_path(path).is_file()
                else pd.DataFrame(columns=VERDICT_COLUMNS))
    return Reproduction(pd.read_csv(path, skiprows=len(comments)), statement, verdicts, environment)
