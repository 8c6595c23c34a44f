"""The uncertainty tables (results/uncertainty/*.csv) as the report shows them: text cells and error-bar figures.

Numbers come from x2softmax.evaluate.uncertainty; here they are only formatted. A missing value is shown as "—"
and its reason is collected into a footnote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from x2softmax.evaluate.coverage import CALIBRATED, LABELS, LEVEL, STATED_COVERAGE
from x2softmax.evaluate.seeds import rerun_change_rate
from x2softmax.evaluate.uncertainty import IDENTICAL, VERDICTS
from x2softmax.report.palette import series_styles
from x2softmax.report.plots import notice_figure, outside_legend, panel_grid
from x2softmax.report.summaries import benchmark_order
from x2softmax.report.tables import MISSING, format_number
from x2softmax.vocabulary import UNCERTAINTY_TABLES


def read_uncertainty(directory: Path) -> dict[str, pd.DataFrame]:
    """Every uncertainty table of a directory by name; a clear error naming a missing file."""
    tables = {}
    for name in UNCERTAINTY_TABLES:
        path = Path(directory) / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: uncertainty table not found (it should have been produced by the workflow)")
        tables[name] = pd.read_csv(path, keep_default_na=True).fillna({"note": "", "verdict": ""})
    return tables


def interval_text(value: float, low: float, high: float, digits: int = 2) -> str:
    """"97.50 [96.10, 98.60]" formatted as every table cell (no −0.00), or "—" for a missing value (the interval
    is left out when it is missing)."""
    if value is None or math.isnan(value):
        return MISSING
    if math.isnan(low) or math.isnan(high):
        return format_number(float(value), digits)
    return f"{format_number(float(value), digits)} [{format_number(float(low), digits)}, " \
           f"{format_number(float(high), digits)}]"


def footnote(frame: pd.DataFrame) -> str:
    """One line per data set and reason of the missing cells of a table ("" when nothing is missing)."""
    missing = frame[frame["note"].astype(str).str.startswith("not measurable")]
    reasons = (missing["dataset"] + ": " + missing["note"].str.replace(r"(FAR|FPIR) \S+ < ", r"\1 < ", regex=True))
    return "\n".join(f"{MISSING} {reason}" for reason in dict.fromkeys(reasons))


def interval_table(intervals: pd.DataFrame, runs: Sequence[str], column: Sequence[str]) -> pd.DataFrame:
    """Run × (the `column` fields joined) with "value [95 % interval]" cells; runs in the given order."""
    rank = {name: i for i, name in enumerate(benchmark_order(intervals["dataset"]))}
    rows = intervals[intervals["run"].isin(runs)].sort_values(
        list(column), key=lambda c: c.map(rank) if c.name == "dataset" else c, kind="stable")
    text = [interval_text(v, lo, hi) for v, lo, hi in zip(rows["value"], rows["ci_low"], rows["ci_high"])]
    keyed = rows.assign(cell=text, column=rows[list(column)].astype(str).agg(" ".join, axis=1))
    wide = keyed.pivot_table(index=["run", "seed"], columns="column", values="cell", aggfunc="first", sort=False)
    wide = wide.reindex(columns=list(dict.fromkeys(keyed["column"])))
    order = {run: i for i, run in enumerate(runs)}
    return wide.reset_index().sort_values("run", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def seed_table(seeds: pd.DataFrame, datasets: Sequence[str]) -> pd.DataFrame:
    """Per base run, data set, protocol and metric: "mean ± std (range r, #rank)" over its seeds (range: max − min;
    rank by mean among the base runs, 1 = best), the seeds and their number (cells missing for every seed, i.e. not
    measurable, are left to the footnote)."""
    rows = seeds[seeds["dataset"].isin(datasets) & (seeds["n_seeds"] > 0)]
    cell = [MISSING if n == 0 else (f"{m:.2f} (#{rank:.0f})" if n == 1 else
                                    f"{m:.2f} ± {s:.2f} (range {r:.2f}, #{rank:.0f})")
            for m, s, r, n, rank in zip(rows["mean"], rows["std"], rows["spread"], rows["n_seeds"],
                                        rows["rank"].astype(float))]
    return rows.assign(**{"mean ± std": cell})[
        ["base_run", "loss", "dataset", "protocol", "metric", "seeds", "n_seeds", "rank", "spread", "mean ± std",
         "note"]
    ].reset_index(drop=True)


def paired_table(paired: pd.DataFrame, datasets: Sequence[str]) -> pd.DataFrame:
    """X2 minus each baseline with its 95 % interval and the verdict, for the given data sets."""
    rows = paired[paired["dataset"].isin(datasets)]
    cell = [interval_text(d, lo, hi) for d, lo, hi in zip(rows["difference"], rows["ci_low"], rows["ci_high"])]
    spread = [seed_spread_text(lo, hi) for lo, hi in zip(rows.get("seed_low", np.full(len(rows), np.nan)),
                                                          rows.get("seed_high", np.full(len(rows), np.nan)))]
    return rows.assign(**{"X2 − baseline [95 %]": cell, "seed spread": spread})[
        ["baseline", "dataset", "protocol", "metric", "seeds", "x2_mean", "baseline_mean", "X2 − baseline [95 %]",
         "verdict", "seed spread", "note"]
    ].reset_index(drop=True)


def seed_spread_text(low: float, high: float) -> str:
    """"−2.10 … +1.30": the smallest and largest per-seed difference ("" for one seed or a missing value)."""
    if low is None or high is None or math.isnan(low) or math.isnan(high) or low == high:
        return ""
    return f"{format_number(float(low), 2)} … {format_number(float(high), 2)}"


VERDICT_WORDS = {**dict(zip(VERDICTS, ("better", "n.d.", "worse"))),
                 IDENTICAL: "identical networks"}


def _row_key(rows: pd.DataFrame) -> list[str]:
    """The fields that tell a data set's rows apart: the protocol (.bin sets), the metric (IJB FARs), or both (IJB
    1:1 FARs next to the 1:N metrics)."""
    several = [field for field in ("protocol", "metric") if rows[field].nunique() > 1]
    return several or ["protocol"]


def _metric_label(metric: str) -> str:
    """A short column label: tar_at_far_1e-03_pct -> TAR@1e-03, tpir_at_fpir_1e-02_pct -> TPIR@1e-02, rank_1_pct ->
    rank-1, accuracy_pct -> accuracy."""
    if metric.startswith("tar_at_far_"):
        return "TAR@" + metric[len("tar_at_far_"):].removesuffix("_pct")
    if metric.startswith("tpir_at_fpir_"):
        return "TPIR@" + metric[len("tpir_at_fpir_"):].removesuffix("_pct")
    if metric.startswith("rank_"):
        return "rank-" + metric[len("rank_"):].removesuffix("_pct")
    return metric.removesuffix("_pct")


def _far_of(label: str) -> float:
    """The FAR of a "TAR@1e-03" label (labels of other metrics sort last)."""
    try:
        return float(label.removeprefix("TAR@"))
    except ValueError:
        return math.inf


def _by_dataset(rows: pd.DataFrame, index: list[str], cells: list[str]) -> pd.DataFrame:
    """Rows keyed by `index` plus the protocol or metric, one column per data set holding `cells`."""
    keys = _row_key(rows)
    keyed = rows.assign(cell=cells, metric=rows["metric"].map(_metric_label))
    if "metric" in keys:  # FARs in increasing order within each row group, whatever order the suites listed them in
        group = {value: i for i, value in enumerate(dict.fromkeys(keyed[index[0]]))}
        protocol = {value: i for i, value in enumerate(dict.fromkeys(keyed["protocol"]))}
        keyed = (keyed.assign(_group=keyed[index[0]].map(group), _protocol=keyed["protocol"].map(protocol),
                              _far=keyed["metric"].map(_far_of))
                 .sort_values(["_group", "_protocol", "_far"], kind="stable")
                 .drop(columns=["_group", "_protocol", "_far"]))
    wide = keyed.pivot_table(index=[*index, *keys], columns="dataset", values="cell", aggfunc="first", sort=False)
    wide = wide.reindex(columns=benchmark_order(rows["dataset"])).fillna(MISSING)  # the report's benchmark order
    wide.columns.name = None
    return wide.reset_index()


def seed_layout(seeds: pd.DataFrame) -> pd.DataFrame:
    """The reader's layout of `seed_table`: runs trained with two seeds or more, one column per data set."""
    rows = seeds[seeds["n_seeds"] > 1]
    if not len(rows):
        return pd.DataFrame({"note": ["no run has more than one training seed"]})
    return _by_dataset(rows, ["base_run", "seeds"], list(rows["mean ± std"]))


def paired_layout(paired: pd.DataFrame) -> pd.DataFrame:
    """The reader's layout of `paired_table`: per baseline, "difference [95 %] verdict" in one column per data set
    (verdict words: better, worse, n.d. = no detectable difference)."""
    cells = [f"{text} {VERDICT_WORDS.get(v, '')}".strip() if text != MISSING else MISSING
             for text, v in zip(paired["X2 − baseline [95 %]"], paired["verdict"])]
    return _by_dataset(paired, ["baseline", "seeds"], cells)


def power_sentence(power: pd.DataFrame) -> str:
    """Per metric with a target, the widest paired interval and whether every interval meets the target, in words."""
    lines = []
    for metric, rows in power[power["target"].notna()].groupby("metric", sort=False):
        rows = rows[rows["half_width"].notna()]
        if not len(rows):
            continue
        widest = rows.loc[rows["half_width"].idxmax()]
        target = float(widest["target"])
        met = int((rows["half_width"] <= target).sum())
        lines.append(f"{_metric_label(metric)}: the widest paired X2 − baseline interval is "
                     f"±{widest['half_width']:.2f} points ({widest['baseline']}, {widest['dataset']}, "
                     f"{widest['protocol']}); target ±{target:g}: {'met' if met == len(rows) else 'not met'} "
                     f"({met} of {len(rows)} intervals within it).")
    return "\n".join(lines) or "No paired X2 − baseline interval has a width target on these data sets."


def verdict_overview(paired: pd.DataFrame, suites: Sequence[str]) -> str:
    """What a reviewer decides from, in words: the headline comparisons of X2 against each baseline (10-fold
    accuracy; IJB TAR at FAR 1e-4, else the lowest FAR with an interval; `x2softmax.report.claims.headline`) grouped
    by verdict, each decisive one with its difference and interval."""
    from x2softmax.report.claims import headline

    rows = headline(paired, suites)
    rows = rows[rows["verdict"].astype(str) != ""]
    if not len(rows):
        return "No X2 − baseline comparison in this configuration."
    metric = ("10-fold accuracy" if not rows["dataset"].isin(list(suites)).any()
              else ", ".join(dict.fromkeys(_metric_label(m) for m in rows["metric"])))
    lines = [f"**X2 against each baseline** ({metric}, percentage points; the 95 % interval holds the test-set and "
             f"the training noise, see below): {len(rows)} comparisons."]
    order = [VERDICTS[0], VERDICTS[2], VERDICTS[1], IDENTICAL]  # the decisive verdicts first
    for verdict in sorted(set(rows["verdict"]), key=lambda v: order.index(v) if v in order else len(order)):
        group = rows[rows["verdict"] == verdict]
        if verdict in (VERDICTS[0], VERDICTS[2]):
            items = "; ".join(f"{r.baseline} on {r.dataset} {interval_text(r.difference, r.ci_low, r.ci_high)}"
                              for r in group.itertuples())
            lines.append(f"- **{verdict}**: {len(group)} ({items})")
        else:
            lines.append(f"- **{verdict}**: {len(group)} ({', '.join(dict.fromkeys(group['baseline']))})")
    return "\n".join(lines)


def rerun_expectation(level: float = LEVEL) -> str:
    """How often two independent reruns are expected to disagree on a verdict, in words."""
    rate = rerun_change_rate(level)
    return ("Two independent reruns (another seed, another CPU) are expected to give different verdicts on about "
            f"{100 * rate:.0f} % (2 × {100 * (1 - level):.0f} %) of the comparisons with no true difference, and "
            "on up to half of those whose true difference lies near the edge of what the intervals can detect; "
            "only byte-identical training gives none.")


def interval_words(paired: pd.DataFrame) -> str:
    """What the paired intervals hold, in words, from their `note`, `seed_df` and `seeds` columns."""
    trained = paired[paired["seed_df"].fillna(0).astype(float) > 0] if "seed_df" in paired else paired.iloc[:0]
    parts = []
    if len(trained):
        dfs = sorted({int(v) for v in trained["seed_df"]})
        losses = trained["note"].str.extract(r"pooled over (.*?) \(")[0].dropna()
        parts.append(
            f"{len(trained)} of {len(paired)} intervals hold the test-set noise (the shared bootstrap of pairs or "
            f"templates) and the training noise: the between-seed variance of one run, pooled over the losses "
            f"trained with several seeds ({losses.iloc[0] if len(losses) else 'those losses'}; "
            f"{'/'.join(map(str, dfs))} degrees of freedom), applied to every comparison, single-seed ones too. "
            "This assumes every loss has the same seed variance and that two losses' training noise is "
            "independent; the interval is a t interval (x2softmax.evaluate.seeds) whose 95 % intervals covered "
            + " and ".join(f"{value:.1%} with {method.removesuffix(' difference')}"
                        for method, value in STATED_COVERAGE["verification seeds"].items())
            + " in simulated runs with a known seed spread (bench/coverage.py).")
    untrained = len(paired) - len(trained)
    if untrained:
        parts.append(f"{untrained} intervals hold the test-set noise only: no loss was trained with two seeds, so "
                     "training noise was not measured and a retrained network can move them further.")
    return " ".join(parts) + " " + rerun_expectation()


def coverage_statement(design: str) -> str:
    """The simulated coverage of each interval method of a design (x2softmax.evaluate.coverage), in words, with the
    label of a method outside the calibrated band."""
    parts = []
    for method, value in STATED_COVERAGE[design].items():
        labels = LABELS.get(design, {})
        label = f" ({labels[method]})" if not CALIBRATED[0] <= value <= CALIBRATED[1] and method in labels else ""
        parts.append(f"{method} {value:.1%}{label}")
    return (f"Coverage of the 95 % intervals in simulation ({design}, bench/coverage.py; calibrated: "
            f"{CALIBRATED[0]:.0%}–{CALIBRATED[1]:.0%}): " + "; ".join(parts) + ".")


def toy_comparison_layout(comparisons: pd.DataFrame) -> pd.DataFrame:
    """The reader's layout of `x2softmax.analysis.toy.compactness_comparisons` (with `dim`): per dimension and rival,
    "difference [95 %]" in degrees, the per-seed spread and the outcome that every seed must share."""
    from x2softmax.report.verdicts import compactness_outcome

    if not len(comparisons):
        return pd.DataFrame({"note": ["no toy comparison of X2 with another loss in this configuration"]})
    return pd.DataFrame({
        "dim": comparisons["dim"], "rival": comparisons["rival"], "seeds": comparisons["seeds"],
        "X2 − rival [95 %] (deg)": [interval_text(d, lo, hi) for d, lo, hi in
                                    zip(comparisons["difference"], comparisons["ci_low"], comparisons["ci_high"])],
        "seed spread": [seed_spread_text(lo, hi) for lo, hi in zip(comparisons["seed_low"], comparisons["seed_high"])],
        "outcome": [compactness_outcome(row) for _, row in comparisons.iterrows()],
    })


def ablation_intervals(paired: pd.DataFrame, protocols: Sequence[str] = ("10fold", "oracle")) -> pd.DataFrame:
    """Per ablation run, data set and protocol, the 95 % interval of (ablation − X2) accuracy in points: the
    X2 − baseline comparisons of `paired_comparisons` turned round (run, dataset, protocol, low, high)."""
    rows = paired[paired["protocol"].isin(protocols) & (paired["metric"] == "accuracy_pct")]
    return pd.DataFrame({"run": rows["baseline"], "dataset": rows["dataset"], "protocol": rows["protocol"],
                         "low": -rows["ci_high"], "high": -rows["ci_low"]}).reset_index(drop=True)


def errorbar_figure(intervals: pd.DataFrame, runs: Sequence[str], panel: str, x: str, ylabel: str,
                    log_x: bool = False) -> Figure:
    """Point values with 95 % interval bars: one panel per value of `panel`, one series per run along `x`."""
    rows = intervals[intervals["run"].isin(runs) & intervals["value"].notna()]
    panels = list(dict.fromkeys(rows[panel]))
    if not panels:
        return notice_figure("No measurable value to show.")
    fig, axes = panel_grid(len(panels), 2, (5.5, 4.2))  # two panels and the legend fit the page readably
    styles = series_styles(runs)  # one colour and marker per run on every panel
    for ax, name in zip(axes, panels):
        sub = rows[rows[panel] == name]
        positions = {v: i for i, v in enumerate(dict.fromkeys(sub[x]))}
        shown = [r for r in runs if r in set(sub["run"])]
        width = 0.8 / max(1, len(shown))
        for k, run in enumerate(shown):
            part = sub[sub["run"] == run]
            where = np.array([positions[v] for v in part[x]], dtype=float)
            if not log_x:
                where = where - 0.4 + width * (k + 0.5)
            else:
                where = part[x].astype(float).to_numpy() * (1.0 + 0.06 * (k - len(shown) / 2))
            err = np.vstack([part["value"] - part["ci_low"], part["ci_high"] - part["value"]]).clip(min=0)
            ax.errorbar(where, part["value"], yerr=err, fmt=styles[run]["marker"], color=styles[run]["color"],
                        ms=styles[run]["ms"] - 0.5, capsize=2.5, lw=styles[run]["lw"] * 0.7, label=run,
                        zorder=styles[run]["zorder"])
        if log_x:
            ax.set_xscale("log")
            ax.set_xlabel("FAR")
        else:
            ax.set_xticks(range(len(positions)), list(positions), rotation=20)
        ax.set(title=str(name), ylabel=ylabel)
    fig.tight_layout()
    outside_legend(fig, max(axes[:len(panels)], key=lambda a: len(a.get_legend_handles_labels()[1])), title="run")
    return fig


def power_layout(power: pd.DataFrame) -> pd.DataFrame:
    """The power table as a page shows it: the comparisons with a target (its CSV keeps every row)."""
    return power[power["target"].notna()]


def measurable_layout(measurable: pd.DataFrame) -> pd.DataFrame:
    """The lowest measurable FAR per suite as a page shows it: the FAR written as FARs are (1.43e-04)."""
    return measurable.assign(lowest_measurable_far=[f"{far:.2e}" for far in measurable["lowest_measurable_far"]])
