"""Page 04's IJB 1:N identification section: the table (rank-1, rank-5, TPIR at FPIR 1e-2 and 1e-1, each with its
95 % interval over probe templates), the TPIR-vs-FPIR curves (DET/CIR, log FPIR) and the CMC curves, from what the
evaluation job (`ijb_{suite}_1N.json`) and `x2softmax uncertainty` (`identification_intervals.csv`) wrote."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from x2softmax.evaluate.summary import metric_at_fpir, rank_metric
from x2softmax.report.pagetables import read_ijb_files
from x2softmax.report.palette import series_styles
from x2softmax.report.plots import notice_figure, outside_legend, panel_grid
from x2softmax.report.uncertainty import interval_text
from x2softmax.vocabulary import FPIRS, LABELS

FPIR_MIN = min(FPIRS)  # the curves' left end (the reference plots from 1e-4)
PAGE_FPIRS = (1e-2, 1e-1)  # the FPIRs the page's table shows (the CSVs hold 1e-4 ... 1)
PAGE_METRICS = {rank_metric(1): "rank-1", rank_metric(5): "rank-5",
                **{metric_at_fpir(f): f"TPIR@FPIR={f:.0e}" for f in PAGE_FPIRS}}


def read_identification(eval_dir: Path, runs: Sequence[str], suites: Sequence[str]) -> dict[str, dict[str, Any]]:
    """{suite: {run: 1:N result}} from `{eval_dir}/{run}/ijb_{suite}_1N.json`; a clear error names a missing file."""
    return read_ijb_files(eval_dir, runs, suites, "1N.json", "1:N results", lambda path: json.loads(path.read_text()))


def identification_table(intervals: pd.DataFrame, runs: Sequence[str], suites: Sequence[str]) -> pd.DataFrame:
    """(suite, run, seed) × metric with "value [95 % interval]" cells in percent; "—" where not measurable (a page
    shows it split by suite)."""
    rows = intervals[intervals["run"].isin(runs) & intervals["metric"].isin(list(PAGE_METRICS))
                     & intervals["dataset"].isin(suites)]
    cells: dict[tuple[str, str, Any], dict[str, str]] = {}
    for row in rows.itertuples(index=False):
        key = (LABELS.get(row.dataset, row.dataset), row.run, row.seed)
        cells.setdefault(key, {})[PAGE_METRICS[row.metric]] = interval_text(row.value, row.ci_low, row.ci_high)
    order = {name: i for i, name in enumerate([LABELS.get(s, s) for s in suites] + list(runs))}
    table = pd.DataFrame([{"suite": suite, "run": run, "seed": seed, **values}
                          for (suite, run, seed), values in cells.items()],
                         columns=["suite", "run", "seed", *PAGE_METRICS.values()])
    return table.sort_values(["suite", "run"], key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def _suite_panels(results: Mapping[str, Mapping[str, Mapping[str, Any]]], curve: str, x: str, y: str, markers: bool,
                  finish: Callable[[Any, str, Mapping[str, Mapping[str, Any]]], None]) -> Figure:
    """One panel per suite, one line per run: `result[curve][y]` against `result[curve][x]`, in the runs' styles
    (with markers if asked); `finish(ax, suite, per_run)` scales and labels each panel; the legend below."""
    if not results:
        return notice_figure("No IJB suite in this configuration.")
    fig, axes = panel_grid(len(results), 2, (5, 4.2))
    styles = series_styles(list(dict.fromkeys(r for per_run in results.values() for r in per_run)))
    for ax, (suite, per_run) in zip(axes, results.items()):
        for run, result in per_run.items():
            st = styles[run]
            marks = {"marker": st["marker"], "ms": st["ms"] - 2} if markers else {}
            ax.plot(result[curve][x], result[curve][y], label=run, lw=st["lw"], color=st["color"], ls=st["ls"],
                    **marks, zorder=st["zorder"])
        finish(ax, suite, per_run)
    fig.tight_layout()
    outside_legend(fig, axes[0], ncol=4, title="run", below=True)
    return fig


def _tpir_fpir_panel(ax: Any, suite: str, per_run: Mapping[str, Mapping[str, Any]]) -> None:
    """Log FPIR axis from FPIR_MIN, the FPIRs below what both galleries can measure shaded and said."""
    lowest = max(r["lowest_measurable_fpir"] for r in per_run.values())
    if lowest > FPIR_MIN:
        ax.axvspan(FPIR_MIN, lowest, color="0.85", zorder=0)
        ax.text(np.sqrt(FPIR_MIN * lowest), 0.97, "not measurable:\nFPIR below\n1 / non-mated\nprobes",
                ha="center", va="top", fontsize=9, color="0.15")
    ax.set(xscale="log", xlim=(FPIR_MIN, 1), ylim=(0, 1.01), xlabel="FPIR (false positive identification rate)",
           ylabel="TPIR (true positive identification rate)", title=f"{LABELS.get(suite, suite)} 1:N")


def _cmc_panel(ax: Any, suite: str, per_run: Mapping[str, Mapping[str, Any]]) -> None:
    """Integer ranks on x, the identification rate on y."""
    ax.set(ylim=(0, 1.01), xlabel="rank k", ylabel="identification rate within rank k",
           title=f"{LABELS.get(suite, suite)} CMC")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def tpir_fpir_figure(results: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> Figure:
    """TPIR against FPIR (log x, the reference's grid; DET/CIR curve) per suite (panels) and run (lines); only the
    FPIRs both galleries can measure (at least 1 / non-mated probes) are drawn."""
    return _suite_panels(results, "curve", "fpir", "tpir", False, _tpir_fpir_panel)


def cmc_figure(results: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> Figure:
    """CMC: the identification rate within rank k (both galleries' mated probes over all probes) per suite and run."""
    return _suite_panels(results, "cmc", "rank", "rate", True, _cmc_panel)
