"""Page 08, the controlled study of adaptive margins (issue 36, `make replicate PRESET=mechanism`): its figures, its
scoreboard rows (labelled "controlled synthetic world") and its verdict text, all computed from the study's tables
(`x2softmax.analysis.study_tables`, results/mechanism/tables) and run health (results/mechanism/run_health.csv).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from x2softmax.analysis import mechanism as M
from x2softmax.analysis.geometry import realised_margins
from x2softmax.evaluate.seeds import pooled_seed_variance
from x2softmax.report.claims import FAILS, HOLDS, NO_DIFFERENCE
from x2softmax.report.health import read_run_health
from x2softmax.report.palette import series_styles
from x2softmax.report.plots import outside_legend, panel_grid
from x2softmax.train.health import identical_pairs
from x2softmax.vocabulary import STUDY_TABLES

WORLD = "controlled synthetic world"
WORLD_SENTENCE = (
    "A controlled synthetic world can show whether the mechanism the paper proposes operates when only the share of "
    "look-alike identities and the class-size imbalance of the training set change and everything else is held "
    "fixed; it cannot show that real face data sets have this structure, nor that effects of these sizes carry over "
    "to real faces and full-size networks.")
CONSISTENT_FLAT = "consistent (no detectable slope)"
SCOREBOARD_COLUMNS = ("claim", "subject", "benchmark", "measure", "effect", "ci_low", "ci_high", "unit", "verdict",
                      "evidence", "table")
CLAIMS = {
    "dose": "X2's advantage over a fixed-margin loss grows with the share of look-alike identities",
    "lookalike": "X2 does better on look-alike impostor pairs at equal overall accuracy",
    "margin": "the realised margin grows with the inter-class angle for X2, is flat for ArcFace, shrinks for CosFace",
    "convergence": "close classes converge worse under a fixed margin than under X2",
}
KIND_ORDER = ("genuine", "lookalike", "random")
KIND_WORDS = {"genuine": "genuine pairs", "lookalike": "look-alike impostor pairs", "random": "random impostor pairs"}


def read_study(tables_dir: Path) -> dict[str, pd.DataFrame]:
    """Every study table (`vocabulary.STUDY_TABLES`) from its folder; a clear error naming a missing one."""
    tables = {}
    for name in STUDY_TABLES:
        path = Path(tables_dir) / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: study table not found (make replicate PRESET=mechanism writes it)")
        tables[name] = pd.read_csv(path, keep_default_na=False, na_values=[""])
    return tables


def margin_claim(realised: str, paper: str) -> str:
    """The margin claim's verdict for one loss: its realised direction against the paper's."""
    if paper == "flat":
        return CONSISTENT_FLAT if realised == "flat" else FAILS
    return HOLDS if realised == paper else NO_DIFFERENCE if realised == "flat" else FAILS


def scoreboard(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per question, subject and measure (SCOREBOARD_COLUMNS), the verdict computed from its table's
    effect and interval (holds / does not hold / no detectable difference), every row labelled WORLD."""
    rows = []
    for r in tables["dose_response"].to_dict("records"):
        verdict = HOLDS if r["verdict"] == M.GROWS else FAILS if r["verdict"] == M.SHRINKS else NO_DIFFERENCE
        rows.append((CLAIMS["dose"], f"x2softmax − {r['baseline']}", r["benchmark"], r["metric"], r["slope"], r["low"],
                     r["high"], "points per unit share", verdict, WORLD, "08_dose_slopes"))
    adjusted = tables["lookalike"][tables["lookalike"]["quantity"] == M.LOOKALIKE_QUANTITIES[2]]
    for r in adjusted.to_dict("records"):
        verdict = HOLDS if r["verdict"] == "X2 higher" else FAILS if r["verdict"] == "X2 lower" else NO_DIFFERENCE
        rows.append((CLAIMS["lookalike"], f"x2softmax − {r['baseline']}", r["benchmark"], r["quantity"], r["effect"],
                     r["low"], r["high"], "points", verdict, WORLD, "08_lookalike"))
    for r in tables["margin_slopes"].to_dict("records"):
        rows.append((CLAIMS["margin"], r["loss"], "training set", "realised margin slope on the angle",
                     r["realised_slope"], r["low"], r["high"], "deg per deg", margin_claim(r["realised"], r["paper"]),
                     WORLD, "08_margin_slopes"))
    versus = tables["convergence"][tables["convergence"]["reference"].fillna("") == M.X2]
    for r in versus.to_dict("records"):
        verdict = HOLDS if r["low"] > 0 else FAILS if r["high"] < 0 else NO_DIFFERENCE
        rows.append((CLAIMS["convergence"], f"{r['loss']} − x2softmax", "training set",
                     "slope of per-class training accuracy on the angle", r["effect"], r["low"], r["high"],
                     "points per 10 deg", verdict, WORLD, "08_convergence_slopes"))
    return pd.DataFrame(rows, columns=SCOREBOARD_COLUMNS)


def _count(board: pd.DataFrame, claim: str) -> str:
    verdicts = board.loc[board["claim"] == claim, "verdict"].value_counts()
    return ", ".join(f"{n} {verdict}" for verdict, n in verdicts.items()) or "no comparison"


def verdict_text(tables: Mapping[str, pd.DataFrame]) -> str:
    """The page's verdict in words, one bullet per question, computed from the scoreboard of `tables`."""
    board = scoreboard(tables)
    margins = tables["margin_slopes"]
    realised = "; ".join(f"{r['loss']} {r['realised']} (analytic over the same angles: {r['analytic']}, paper: "
                         f"{r['paper']})" for r in margins.to_dict("records"))
    lines = [f"- **{CLAIMS[key]}** ({WORLD}): {_count(board, CLAIMS[key])}." for key in CLAIMS]
    lines.append(f"- Realised margin against the angle, per loss: {realised}.")
    return "\n".join(lines)


def health_summary(path: Path) -> pd.DataFrame:
    """The study's run health in one row: runs, distinct backbones, pairs of identical networks, saturated runs."""
    health = read_run_health(Path(path))
    saturated = health.loc[health["saturated"].astype(bool), "run"].tolist()
    pairs = identical_pairs(health)
    return pd.DataFrame([{"runs": len(health), "distinct_backbones": int(health["backbone_sha256"].nunique()),
                          "identical_pairs": len(pairs), "saturated_runs": len(saturated),
                          "named": "; ".join([*saturated, *(f"{a} = {b}" for a, b in pairs)]) or "none"}])


def dose_response_figure(runs: pd.DataFrame) -> Figure:
    """Per benchmark × accuracy (overall, look-alike pairs): X2 minus each fixed-margin loss per world against the
    look-alike share, one line per loss and imbalance level, 95 % intervals with training noise."""
    panels = [(b, m) for b in runs["benchmark"].unique() for m in ("overall", "lookalike")
              if runs.loc[runs["benchmark"] == b, m].notna().any()]
    fig, axes = panel_grid(len(panels), 2, (4.6, 3.4))
    exponents = sorted(runs["size_exponent"].unique())
    labels = [f"{b}, tail {e:g}" for b in M.BASELINES for e in exponents]
    styles = series_styles(labels)
    for ax, (benchmark, metric) in zip(axes, panels):
        rows = runs[runs["benchmark"] == benchmark]
        per_run = rows.assign(value=rows[metric])[list(M.COLUMNS)]
        for baseline in M.BASELINES:
            points = M.world_differences(per_run, baseline, pooled_seed_variance)
            for k, e in enumerate(exponents):
                part = points[points["size_exponent"] == e]
                label = f"{baseline}, tail {e:g}"
                shift = (M.BASELINES.index(baseline) * len(exponents) + k - 1.5) * 0.012
                style = styles[label]
                ax.errorbar(part["lookalike_share"] + shift, part["difference"],
                            yerr=[part["difference"] - part["low"], part["high"] - part["difference"]],
                            color=style["color"], linestyle=style["ls"], marker=style["marker"],
                            capsize=3, label=label)
        ax.axhline(0.0, color="0.5", linewidth=0.8)
        ax.set_title(f"{benchmark}: {'overall' if metric == 'overall' else 'look-alike impostor'} accuracy")
        ax.set_xlabel("look-alike share of the training world")
        ax.set_ylabel("X2 − loss (points)")
    fig.tight_layout()
    outside_legend(fig, axes[0], ncol=len(labels) // 2 or 1, below=True)
    return fig


def margin_figure(bins: pd.DataFrame, loss_specs: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Per loss: the kept margin of its classes against the angle to the nearest class weight (binned means over
    every run), with the analytic two-class margin of page 01 over the same range."""
    losses = sorted(bins["loss"].unique())
    fig, axes = panel_grid(len(losses), len(losses), (4.2, 3.3))
    specs = {spec["name"]: spec for spec in loss_specs.values()}
    handles = []
    for ax, loss in zip(axes, losses):
        part = bins[bins["loss"] == loss]
        handles = ax.plot(part["angle_bin"], part["kept_margin_deg"], "o-", color="#1f77b4",
                          label="kept by the features (left axis)")
        grid = np.linspace(part["angle_bin"].min(), part["angle_bin"].max(), 60)
        spec = specs.get(loss)
        if spec is not None:
            try:
                analytic = np.rad2deg(realised_margins(np.deg2rad(grid), loss, spec.get("hparams", {})))
            except ValueError:
                analytic = None
            if analytic is not None:  # its own axis: the two margins differ in level, the question is the direction
                right = ax.twinx()
                right.grid(False)
                handles = handles + right.plot(grid, analytic, "--", color="#d62728",
                                               label="analytic two-class margin, page 01 (right axis)")
                right.set_ylabel("analytic margin (deg)", color="#d62728")
                right.ticklabel_format(axis="y", useOffset=False)
                if float(np.nanmax(analytic) - np.nanmin(analytic)) < 1.0:  # a flat curve: a readable range around it
                    right.set_ylim(float(np.nanmean(analytic)) - 5.0, float(np.nanmean(analytic)) + 5.0)
        ax.set_title(loss)
        ax.set_xlabel("angle to the nearest class weight (deg)")
        ax.set_ylabel("kept margin (deg)", color="#1f77b4")
    fig.tight_layout()
    fig.legend(handles, [h.get_label() for h in handles], fontsize=9, ncol=2, frameon=False, loc="upper center",
               bbox_to_anchor=(0.5, 0.0))
    return fig


def kind_figure(runs: pd.DataFrame, benchmark: str = "lfw") -> Figure:
    """Accuracy per pair kind on one benchmark: per kind a panel, loss means over seeds against the look-alike share
    (one line per loss and imbalance level), the seed range as a band."""
    rows = runs[runs["benchmark"] == benchmark]
    kinds = [k for k in KIND_ORDER if rows[k].notna().any()]
    fig, axes = panel_grid(len(kinds), len(kinds), (4.2, 3.3))
    exponents = sorted(rows["size_exponent"].unique())
    labels = [f"{loss}, tail {e:g}" for loss in sorted(rows["loss"].unique()) for e in exponents]
    styles = series_styles(labels)
    for ax, kind in zip(axes, kinds):
        stats = rows.groupby(["loss", "size_exponent", "lookalike_share"])[kind].agg(["mean", "min", "max"])
        for (loss, e), part in stats.reset_index().groupby(["loss", "size_exponent"]):
            style = styles[f"{loss}, tail {e:g}"]
            ax.plot(part["lookalike_share"], part["mean"], color=style["color"],
                    linestyle=style["ls"], marker=style["marker"], label=f"{loss}, tail {e:g}")
            ax.fill_between(part["lookalike_share"], part["min"], part["max"], color=style["color"], alpha=0.15)
        ax.set_title(f"{benchmark}: {KIND_WORDS[kind]}")
        ax.set_xlabel("look-alike share of the training world")
        ax.set_ylabel("accuracy (%)")
    fig.tight_layout()
    outside_legend(fig, axes[0], ncol=len(exponents) and len(labels) // len(exponents), below=True)
    return fig


def convergence_figure(bins: pd.DataFrame) -> Figure:
    """Per-class training accuracy against the angle to the nearest class weight, one line per loss."""
    fig, axes = panel_grid(1, 1, (6.0, 3.6))
    ax = axes[0]
    losses = sorted(bins["loss"].unique())
    styles = series_styles(losses)
    for loss in losses:
        part = bins[bins["loss"] == loss]
        style = styles[loss]
        ax.plot(part["angle_bin"], 100.0 * part["train_accuracy"], color=style["color"],
                linestyle=style["ls"], marker=style["marker"], label=loss)
    ax.set_xlabel("angle to the nearest class weight (deg)")
    ax.set_ylabel("training accuracy of the class (%)")
    outside_legend(fig, ax)
    return fig
