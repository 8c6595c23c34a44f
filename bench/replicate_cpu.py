"""Where a `make replicate` run's CPU-seconds go, per job kind: start-up (interpreter and imports), data (reading
datasets), compute (the rest), read from the run's own records in a project folder.

Usage: python bench/replicate_cpu.py [PROJECT]   (default: this checkout, after `make replicate`)
Records read: every job's log under logs/ (its last line `x2softmax: cpu-seconds: ...`, x2softmax.phases; jobs that
are not x2softmax commands, the notebooks' papermill runs, have none and show "-") and the Snakemake benchmark
files results/benchmarks/*.tsv (wall seconds and CPU-seconds of the job's whole process tree, where a rule has one:
the notebooks' papermill runs with their kernels included). The last line adds up the benchmark CPU-seconds of every
kind that has them.
"""

from __future__ import annotations

import csv
import re
import sys
from collections import defaultdict
from pathlib import Path

from x2softmax.phases import parse

# logs/<folder>/<name>.log -> job kind: one job per run, loss, suite, set or notebook shares its kind
KINDS = [(r"^train/", "train"), (r"^evaluate/(summary|uncertainty)\.log$", r"\1"), (r"^evaluate/", "evaluate"),
         (r"^toy/", "toy"), (r"^data/align_", "align"), (r"^data/decode_pairs_", "decode_pairs"),
         (r"^data/fetch_", "fetch"), (r"^report/render_", "render"), (r"^report/\d\d_", "notebook")]
BENCHMARK_KINDS = [(r"^(train|evaluate|align|notebook)_", r"\1")]


def kind_of(relative: str, table: list[tuple[str, str]]) -> str:
    """The job kind of a log (or benchmark) path relative to its folder."""
    for pattern, kind in table:
        if match := re.search(pattern, relative):
            return match.expand(kind)
    return Path(relative).stem


def main(project: Path) -> None:
    """Print the per-kind table of CPU-seconds."""
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for log in sorted((project / "logs").rglob("*.log")):
        row = rows[kind_of(log.relative_to(project / "logs").as_posix(), KINDS)]
        row["jobs"] += 1
        phases = parse(log.read_text(encoding="utf-8", errors="replace"))
        if phases:
            row["timed"] += 1
            for name, seconds in phases.items():
                row[name] += seconds
    for tsv in sorted((project / "results/benchmarks").glob("*.tsv")):
        with tsv.open(newline="") as fh:
            record = next(csv.DictReader(fh, delimiter="\t"), None)
        if record:
            row = rows[kind_of(tsv.name, BENCHMARK_KINDS).removesuffix(".tsv")]
            row["wall"] += float(record["s"])
            row["cpu"] += float(record.get("cpu_time") or 0.0)
    if not rows:
        sys.exit(f"bench/replicate_cpu.py: {project}: no logs/ and no results/benchmarks/ (run make replicate first)")
    print(f"{'job kind':<16}{'jobs':>5}{'start-up':>10}{'data':>8}{'compute':>9}{'start-up/job':>14}"
          f"{'bench wall':>12}{'bench CPU':>11}")
    totals: dict[str, float] = defaultdict(float)
    for kind, row in sorted(rows.items(), key=lambda item: -max(item[1]["start-up"] + item[1]["data"]
                                                                 + item[1]["compute"], item[1]["cpu"])):
        timed = row["timed"] > 0
        cells = [f"{row[name]:.1f}" if timed else "-" for name in ("start-up", "data", "compute")]
        per_job = f"{row['start-up'] / row['timed']:.2f}" if timed else "-"
        bench = [f"{row[name]:.1f}" if row[name] else "-" for name in ("wall", "cpu")]
        print(f"{kind:<16}{int(row['jobs']):>5}{cells[0]:>10}{cells[1]:>8}{cells[2]:>9}{per_job:>14}"
              f"{bench[0]:>12}{bench[1]:>11}")
        for name in ("start-up", "data", "compute", "cpu"):
            totals[name] += row[name]
    total = totals["start-up"] + totals["data"] + totals["compute"]
    print(f"{'all x2softmax jobs':<21}{totals['start-up']:>10.1f}{totals['data']:>8.1f}{totals['compute']:>9.1f}"
          f"   start-up {100 * totals['start-up'] / total if total else 0:.0f} % of {total:.0f} CPU-s")
    print(f"{'all benchmark records':<21}{totals['cpu']:>10.1f} CPU-s")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."))
