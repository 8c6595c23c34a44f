"""Run health and departures from the paper as the pages state them: identical networks, saturated runs, and the
loss hyperparameters a run changed relative to the paper preset (config/presets/paper.yaml).

Every sentence is computed from results/summary/run_health.csv (x2softmax.train.health) or from the runs' specs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from x2softmax import config as xcfg
from x2softmax.train.health import COLUMNS, identical_pairs
from x2softmax.train.saturation import BELOW_KEY, LOW_PROB, MEDIAN_KEY, SATURATED_LOSS, SATURATED_SHARE


def read_run_health(path: Path) -> pd.DataFrame:
    """results/summary/run_health.csv; a clear error naming a missing file or column."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run health table not found (it should have been produced by the workflow)")
    table = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"identical_to": str})
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    table["identical_to"] = table["identical_to"].fillna("")
    table["saturated"] = table["saturated"].astype(str).str.lower().eq("true")
    return table


def health_layout(health: pd.DataFrame) -> pd.DataFrame:
    """The reader's layout of the run health table: probabilities in scientific notation, the sha256 cut to 12
    characters (the CSV keeps all 64)."""
    return health.assign(**{
        MEDIAN_KEY: [f"{v:.2e}" for v in health[MEDIAN_KEY]],
        BELOW_KEY: [f"{v:.1%}" for v in health[BELOW_KEY]],
        "saturated": ["yes" if v else "no" for v in health["saturated"]],
        "backbone_sha256": [str(v)[:12] for v in health["backbone_sha256"]],
    }).drop(columns=["base_run"])


def identical_notice(health: pd.DataFrame, runs: Sequence[str]) -> str:
    """One Markdown line per pair of the given runs that trained byte-identical networks ("" when none)."""
    shown = set(runs)
    pairs = [(a, b) for a, b in identical_pairs(health) if a in shown and b in shown]
    return "\n".join(
        f"- **⚠ Identical networks: {a} and {b}.** Their configurations differ but their trained backbones are "
        "byte-identical, so every comparison of the two on this page measures nothing (verdict "
        "\"identical networks\")." for a, b in pairs)


def twins_of(health: pd.DataFrame, run: str) -> list[str]:
    """The runs whose trained backbone is byte-identical to `run`'s although their configuration differs."""
    row = health[health["run"] == run]
    return [] if not len(row) else [twin for twin in str(row["identical_to"].iloc[0]).split(";") if twin]


def saturation_words(health: pd.DataFrame, runs: Sequence[str] | None = None) -> str:
    """Which runs end saturated (final loss, share of samples under LOW_PROB), in words."""
    rows = health if runs is None else health[health["run"].isin(list(runs))]
    rule = (f"A run ends saturated when its final logged training loss is at least {SATURATED_LOSS:g} nats or at "
            f"least {SATURATED_SHARE:.0%} of the samples of its last logged window have a target probability (after "
            f"the loss's scale and margin) below {LOW_PROB:g}: its gradient then no longer depends on the margin.")
    saturated = rows[rows["saturated"]]
    if not len(saturated):
        worst = rows.sort_values(BELOW_KEY, ascending=False).head(1)
        tail = "" if not len(worst) else (
            f" The highest share under {LOW_PROB:g} is {worst[BELOW_KEY].iloc[0]:.1%} ({worst['run'].iloc[0]}); the "
            f"highest final loss is {rows['final_loss'].max():.2f} nats ({rows.loc[rows['final_loss'].idxmax(), 'run']}).")
        return f"{rule}\n\n**No run ends saturated** ({len(rows)} runs).{tail}"
    lines = [f"- **{r['run']}**: final loss {r['final_loss']:.2f} nats, median target probability "
             f"{r[MEDIAN_KEY]:.2e}, {r[BELOW_KEY]:.1%} under {LOW_PROB:g}" for r in saturated.to_dict("records")]
    return (f"{rule}\n\n**{len(saturated)} of {len(rows)} runs end saturated**; their margins were never "
            "tested:\n\n" + "\n".join(lines))


def run_loss_specs(train_dir: Path, runs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each run's loss spec {name, hparams} from results/train/{run}/summary.json."""
    specs = {}
    for run in runs:
        path = Path(train_dir) / run / "summary.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: training summary not found")
        specs[run] = json.loads(path.read_text())["spec"]["loss"]
    return specs


def paper_deviations(specs: Mapping[str, Mapping[str, Any]], paper_preset: str = "paper") -> pd.DataFrame:
    """Per run, every loss hyperparameter whose value differs from the paper preset's for the same run (or loss).

    Columns run, loss, hyperparameter, value (this run), paper. An ablation is compared with the paper preset's
    ablation of the same name, so its intended override is not a deviation.
    """
    paper = xcfg.load_config(paper_preset)
    rows = []
    for run, spec in specs.items():
        base = xcfg.base_run(run)
        known = base in paper["run_losses"] or base in paper.get("ablations", {})
        reference = xcfg.loss_spec(paper, base)["hparams"] if known else xcfg.loss_hparams(paper, spec["name"])
        for key, value in spec.get("hparams", {}).items():
            if key in reference and reference[key] != value:
                rows.append({"run": run, "loss": spec["name"], "hyperparameter": key, "value": value,
                             "paper": reference[key]})
    return pd.DataFrame(rows, columns=["run", "loss", "hyperparameter", "value", "paper"])


def deviation_notice(deviations: pd.DataFrame) -> str:
    """The changed hyperparameters in one Markdown paragraph, grouped by change ("" when the runs use the paper's)."""
    if not len(deviations):
        return ""
    groups: dict[str, list[str]] = {}
    for row in deviations.to_dict("records"):
        groups.setdefault(f"{row['hyperparameter']} = {row['value']:g} (paper: {row['paper']:g})"
                          if isinstance(row["value"], (int, float)) and isinstance(row["paper"], (int, float))
                          else f"{row['hyperparameter']} = {row['value']} (paper: {row['paper']})",
                          []).append(row["run"])
    parts = [f"{change} in {', '.join(dict.fromkeys(runs))}" for change, runs in groups.items()]
    return ("**Deviation from the paper's hyperparameters** (config/presets/paper.yaml): " + "; ".join(parts)
            + ". See docs/losses.md for why the embedded default changes them.")


def comparison_notice(run_health_csv: Path, train_dir: Path, runs: Sequence[str]) -> str:
    """What a page comparing `runs` must say first: identical networks among them and their departures from the
    paper's loss hyperparameters (Markdown; "" when there is nothing to say)."""
    health = read_run_health(Path(run_health_csv))
    parts = [identical_notice(health, runs), deviation_notice(paper_deviations(run_loss_specs(Path(train_dir), runs)))]
    return "\n\n".join(part for part in parts if part)
