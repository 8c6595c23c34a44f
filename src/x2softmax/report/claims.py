"""The claims scoreboard: one row per claim of the paper and subject, with this run's evidence, the effect and its
95 % interval, the verdict, and whether it is stable over seeds. Computed from the tables the pages write, never
typed (`reports/tables/claims.csv`, the top of `reports/index.html`).

Claims (docs/architecture.md, "Claims scoreboard"):
- margin: the X2 angular margin grows with the angle between classes (page 01, `01_margin_at_angles.csv`); an
  analysis of the loss, exact, no seeds;
- compact: X2 gives more compact classes than each other toy loss, per dimension (page 02,
  `02_toy_seed_comparison.csv`, held-out samples resampled, training noise pooled over the losses' seeds);
- baseline: X2 beats each baseline on each benchmark (pages 03/04, `results/uncertainty/paired_comparisons.csv`):
  10-fold accuracy on a verification set, TAR at FAR 1e-4 (else the lowest measured FAR) on an IJB suite;
- identification: X2 beats each baseline at IJB 1:N identification, rank-1 per suite (page 04, the same paired
  table); the paper reports no 1:N number, so this row tests the claim's spirit on the benchmark's other protocol;
- ablation: the default X2 beats each ablation (a, h, k, exact gradient) on each verification set (pages 03/06).

Trained-model comparisons on synthetic data are "not testable here" (the paper's claims are about real faces); the
result on this run's data stays in `result`. A comparison with a run still saturated at the end of training, or
between identical networks, is named in `degenerate` (from `results/summary/run_health.csv`; without that file
the check was not run).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from x2softmax.config import base_run
from x2softmax.evaluate.uncertainty import IDENTICAL, UNSTABLE, VERDICTS
from x2softmax.losses import SUBJECT
from x2softmax.report.page import table_number
from x2softmax.report.verdicts import compactness_outcome
from x2softmax.vocabulary import IDENTIFICATION, IJB_SUITES

HOLDS, FAILS, NO_DIFFERENCE, NOT_TESTABLE = "holds", "does not hold", "no detectable difference", "not testable here"
COLUMNS = ["claim", "subject", "benchmark", "metric", "evidence_page", "evidence_table", "effect", "ci_low", "ci_high",
           "unit", "result", "verdict", "reason", "seeds", "stable_over_seeds", "degenerate"]
PAIRED = "results/uncertainty/paired_comparisons.csv"
HEALTH = "results/summary/run_health.csv"
RESULT_VERDICT = {VERDICTS[0]: HOLDS, VERDICTS[2]: FAILS, VERDICTS[1]: NO_DIFFERENCE, UNSTABLE: UNSTABLE,
                  IDENTICAL: IDENTICAL, "more compact": HOLDS, "less compact": FAILS}
IJB_HEADLINE = "tar_at_far_1e-04_pct"
IDENTIFICATION_HEADLINE = "rank_1_pct"  # the 1:N claim's metric (measurable on every probe set)
BASELINE_CLAIM = "X2 beats each baseline on each benchmark"
IDENTIFICATION_CLAIM = "X2 beats each baseline at IJB 1:N identification (not in the paper)"
ABLATION_CLAIM = "the default X2 beats the ablation"
SYNTHETIC_REASON = "synthetic data cannot test a claim about real-face benchmarks"
SATURATED_REASON = "a compared run is still saturated at the end of training (results/summary/run_health.csv)"


def _read(path: Path, columns: Sequence[str]) -> pd.DataFrame | None:
    """A CSV table with the given columns, or None when the file is absent or lacks them (its claim is then not
    testable); a clear error naming an unreadable one."""
    if not Path(path).is_file():
        return None
    try:
        table = pd.read_csv(path, keep_default_na=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable CSV table ({err})") from err
    except pd.errors.EmptyDataError:
        return None
    return table if set(columns) <= set(table.columns) else None


def _page(nb: str, stem: str) -> str:
    """The page and table number a row's evidence is shown in: '03_verification.html#Table 3.5'."""
    return f"{nb}.html#Table {table_number(nb, stem)}"


def margin_rows(table: pd.DataFrame | None, loss: str = SUBJECT) -> list[dict[str, Any]]:
    """The margin claim from page 01's margin table: 'holds' only when the margin grows over the whole range."""
    evidence = {"claim": "the margin grows with the angle between classes", "subject": loss, "benchmark": "analysis",
                "metric": "smallest angular margin", "evidence_page": _page("01_margins", "01_margin_at_angles"),
                "evidence_table": "reports/tables/01_margin_at_angles.csv", "unit": "deg", "seeds": "",
                "stable_over_seeds": "analysis: no seeds", "degenerate": ""}
    if table is None or loss not in set(table["loss"]):
        return [{**evidence, "result": "", "verdict": NOT_TESTABLE, "reason": f"{loss} is not in the margin table",
                 "effect": math.nan, "ci_low": math.nan, "ci_high": math.nan}]
    row = table.set_index("loss").loc[loss]
    shape = str(row["shape"])
    reason = {"increasing": "the margin grows over the whole range where it exists",
              "U-shaped": f"the margin shrinks up to θ_w ≈ {row['min_at_deg']:.0f}° and grows only above it"}.get(
        shape, f"the margin is {shape} in the angle between the classes")
    return [{**evidence, "effect": float(row["min_margin_deg"]), "ci_low": math.nan, "ci_high": math.nan,
             "result": shape, "verdict": HOLDS if shape == "increasing" else FAILS,
             "reason": reason + f" (smallest margin {row['min_margin_deg']:.2f}° at θ_w = {row['min_at_deg']:.0f}°)"}]


def _spread_text(seeds: str, low: float, high: float, unstable: bool) -> str:
    """Whether a verdict is stable over seeds, with the spread of the per-seed differences."""
    n = len(str(seeds).split())
    if n < 2:
        return "one seed: not tested"
    spread = f"{n} seeds, per-seed {low:+.2f} … {high:+.2f}" if not (math.isnan(low) or math.isnan(high)) \
        else f"{n} seeds"
    return f"no ({spread})" if unstable else f"yes ({spread})"


def _training_text(seeds: str, seed_df: float) -> str:
    """Whether a trained comparison's interval holds the training noise (x2softmax.evaluate.seeds): its seeds and the
    degrees of freedom of the pooled seed variance."""
    n = len(str(seeds).split())
    if math.isnan(seed_df) or seed_df < 1:
        return "one seed: training noise not measured"
    return f"yes (training noise in the interval: {n} seed{'s' if n > 1 else ''}, seed variance pooled, " \
           f"{seed_df:.0f} df)"


def compact_rows(table: pd.DataFrame | None, loss: str = SUBJECT) -> list[dict[str, Any]]:
    """The toy claim, one row per dimension and rival, from page 02's seed comparison table."""
    if table is None or not len(table):
        return [{"claim": "X2 gives more compact classes (toy)", "subject": "", "benchmark": "toy", "metric": "",
                 "evidence_page": _page("02_toy", "02_toy_seed_comparison"),
                 "evidence_table": "reports/tables/02_toy_seed_comparison.csv", "effect": math.nan,
                 "ci_low": math.nan, "ci_high": math.nan, "unit": "deg", "result": "", "verdict": NOT_TESTABLE,
                 "reason": f"no toy comparison of {loss} with another loss in this configuration", "seeds": "",
                 "stable_over_seeds": "", "degenerate": ""}]
    rows = []
    for _, row in table[table["loss"] == loss].iterrows():
        outcome = compactness_outcome(row)
        rows.append({"claim": "X2 gives more compact classes (toy)", "subject": str(row["rival"]),
                     "benchmark": f"toy {int(row['dim'])}-D", "metric": "mean angle to the class centre, X2 − rival",
                     "evidence_page": _page("02_toy", "02_toy_seed_comparison"),
                     "evidence_table": "reports/tables/02_toy_seed_comparison.csv",
                     "effect": float(row["difference"]), "ci_low": float(row["ci_low"]),
                     "ci_high": float(row["ci_high"]), "unit": "deg", "result": outcome,
                     "verdict": RESULT_VERDICT.get(outcome, NO_DIFFERENCE), "reason": "",
                     "seeds": str(row["seeds"]),
                     "stable_over_seeds": _spread_text(row["seeds"], float(row["seed_low"]),
                                                       float(row["seed_high"]), outcome == UNSTABLE),
                     "degenerate": ""})
    return rows


def headline(paired: pd.DataFrame, suites: Sequence[str]) -> pd.DataFrame:
    """One comparison per subject and benchmark: 10-fold accuracy (verification), TAR at FAR 1e-4, else the lowest
    FAR with an interval (IJB 1:1), rank-1 (IJB 1:N)."""
    verification = paired[~paired["dataset"].isin(suites) & (paired["protocol"] == "10fold")
                          & (paired["metric"] == "accuracy_pct")]
    one_to_n = paired["protocol"] == IDENTIFICATION
    identification = paired[one_to_n & (paired["metric"] == IDENTIFICATION_HEADLINE)]
    ijb = paired[paired["dataset"].isin(suites) & paired["ci_low"].notna() & ~one_to_n].copy()
    ijb["_far"] = pd.to_numeric(ijb["metric"].str.extract(r"^tar_at_far_(.+)_pct$")[0], errors="coerce")
    ijb["_rank"] = (ijb["metric"] != IJB_HEADLINE).astype(int)
    ijb = ijb.sort_values(["_rank", "_far"], kind="stable").groupby(["baseline", "dataset"], sort=False).head(1)
    return pd.concat([verification, ijb.drop(columns=["_far", "_rank"]), identification], ignore_index=True)


def run_health(table: pd.DataFrame | None) -> tuple[set[str], dict[str, set[str]]]:
    """Saturated base runs and, per base run, the base runs with an identical network (any seed), from
    run_health.csv."""
    if table is None:
        return set(), {}
    saturated = {str(b) for b, s in zip(table["base_run"], table["saturated"])
                 if str(s).strip().lower() in ("true", "1")}
    identical: dict[str, set[str]] = {}
    for run, others in zip(table["run"], table["identical_to"]):
        for other in (x for x in (others if isinstance(others, str) else "").split(";") if x):
            identical.setdefault(base_run(str(run)), set()).add(base_run(other))
            identical.setdefault(base_run(other), set()).add(base_run(str(run)))
    return saturated, identical


def _degenerate(x2: str, subject: str, health: pd.DataFrame | None) -> str:
    """What makes a comparison degenerate (saturated runs, identical networks), or that the check was not run."""
    if health is None:
        return f"check not run ({HEALTH} absent)"
    saturated, identical = run_health(health)
    notes = []
    stuck = [r for r in (x2, subject) if r in saturated]
    if stuck:
        notes.append("saturated: " + ", ".join(stuck))
    if subject in identical.get(x2, set()):
        notes.append(IDENTICAL)
    return "; ".join(notes)


def comparison_rows(paired: pd.DataFrame | None, suites: Sequence[str], ablations: Sequence[str], synthetic: bool,
                    health: pd.DataFrame | None, x2: str = SUBJECT) -> list[dict[str, Any]]:
    """The trained-model claims (X2 vs each baseline on each benchmark; the default vs each ablation), one row per
    subject and benchmark, from results/uncertainty/paired_comparisons.csv."""
    if paired is None or not len(paired):
        return [{"claim": BASELINE_CLAIM, "subject": "", "benchmark": "", "metric": "",
                 "evidence_page": _page("03_verification", "03_paired_comparisons"), "evidence_table": PAIRED,
                 "effect": math.nan, "ci_low": math.nan, "ci_high": math.nan, "unit": "points", "result": "",
                 "verdict": NOT_TESTABLE, "reason": "no X2-vs-baseline comparison in this run", "seeds": "",
                 "stable_over_seeds": "", "degenerate": ""}]
    rows = []
    for _, row in headline(paired, suites).iterrows():
        subject, is_ijb = str(row["baseline"]), row["dataset"] in suites
        ablation = subject in ablations
        if ablation and row["protocol"] == IDENTIFICATION:
            continue  # the ablation claim is about the paper's benchmarks
        result = str(row["verdict"]) if isinstance(row["verdict"], str) else ""
        degenerate = _degenerate(x2, subject, health)
        verdict, reason = RESULT_VERDICT.get(result, NOT_TESTABLE), ""
        if IDENTICAL in degenerate:
            verdict, reason = IDENTICAL, "the two networks are identical (same backbone sha256)"
        elif degenerate.startswith("saturated"):
            verdict, reason = NOT_TESTABLE, SATURATED_REASON
        elif synthetic:
            verdict, reason = NOT_TESTABLE, SYNTHETIC_REASON
        nb, stem = ("04_ijb", "04_paired_comparisons") if is_ijb else ("03_verification", "03_paired_comparisons")
        rows.append({"claim": (ABLATION_CLAIM if ablation else IDENTIFICATION_CLAIM
                               if row["protocol"] == IDENTIFICATION else BASELINE_CLAIM),
                     "subject": subject, "benchmark": str(row["dataset"]),
                     "metric": f"{row['metric']} ({row['protocol']}), X2 − {subject}",
                     "evidence_page": _page(nb, stem), "evidence_table": PAIRED, "effect": float(row["difference"]),
                     "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]), "unit": "points",
                     "result": result, "verdict": verdict, "reason": reason, "seeds": str(row["seeds"]),
                     "stable_over_seeds": _training_text(row["seeds"], float(row["seed_df"])),
                     "degenerate": degenerate})
    order = {BASELINE_CLAIM: 0, IDENTIFICATION_CLAIM: 1, ABLATION_CLAIM: 2}
    return sorted(rows, key=lambda r: order[r["claim"]])  # claim groups, stable


def claims_table(reports_dir: Path, results_dir: Path, config: Mapping[str, Any]) -> pd.DataFrame:
    """Every claim row (module docstring) from the tables of a finished run; a missing table makes its claim 'not
    testable here' with the reason."""
    reports_dir, results_dir = Path(reports_dir), Path(results_dir)
    suites = list(IJB_SUITES)
    ablations = list(config.get("ablations") or {})
    synthetic = bool(config.get("synthetic", False))
    tables = Path(reports_dir) / "tables"
    health = _read(results_dir / "summary" / "run_health.csv", ["run", "base_run", "saturated", "identical_to"])
    rows = (margin_rows(_read(tables / "01_margin_at_angles.csv", ["loss", "shape", "min_margin_deg", "min_at_deg"]))
            + compact_rows(_read(tables / "02_toy_seed_comparison.csv",
                                 ["loss", "rival", "dim", "seeds", "difference", "ci_low", "ci_high",
                                  "seed_differences", "seed_low", "seed_high", "seed_intervals"]))
            + comparison_rows(_read(results_dir / "uncertainty" / "paired_comparisons.csv",
                                    ["baseline", "dataset", "protocol", "metric", "seeds", "difference", "ci_low",
                                     "ci_high", "verdict", "seed_df"]), suites, ablations, synthetic, health))
    return pd.DataFrame(rows, columns=COLUMNS)


SUMMARY_COLUMNS = ["claim", "comparisons", "verdict", "verdicts", "this_run", "stable_over_seeds", "reason"]


def _counts(values: Sequence[str]) -> str:
    """"holds 4, no detectable difference 2": each distinct value with its count, most frequent first."""
    counts = pd.Series([v for v in values if isinstance(v, str) and v]).value_counts()
    return ", ".join(f"{value} {n}" for value, n in counts.items())


def claim_verdict(verdicts: Sequence[str]) -> str:
    """One verdict for a claim from its rows: the rows' verdict when they all share it; else "holds" / "does not
    hold" only when no row says the opposite, else "mixed"."""
    distinct = set(verdicts)
    if len(distinct) == 1:
        return verdicts[0]
    if HOLDS in distinct and FAILS not in distinct and distinct <= {HOLDS, NO_DIFFERENCE, UNSTABLE, IDENTICAL}:
        return "holds for some, no difference or unstable for the rest"
    if FAILS in distinct and HOLDS not in distinct:
        return "does not hold for some, no difference or unstable for the rest"
    return "mixed"


def claims_summary(claims: pd.DataFrame) -> pd.DataFrame:
    """One row per claim of the scoreboard: how many comparisons, the claim's verdict (`claim_verdict`), the count
    of each row verdict, of this run's own results (where the verdict is 'not testable here'), of the rows stable
    over seeds, and the reasons given."""
    rows = []
    for claim, group in claims.groupby("claim", sort=False):
        verdicts = [str(v) for v in group["verdict"]]
        stable = [str(v) for v in group["stable_over_seeds"] if isinstance(v, str)]
        seeded = [v for v in stable if v.startswith(("yes", "no"))]
        rows.append({"claim": claim, "comparisons": len(group), "verdict": claim_verdict(verdicts),
                     "verdicts": _counts(verdicts), "this_run": _counts(list(group["result"])),
                     "stable_over_seeds": (f"{sum(v.startswith('yes') for v in seeded)} of {len(seeded)} with seeds"
                                           if seeded else "no comparison with several seeds"),
                     "reason": "; ".join(dict.fromkeys(r for r in group["reason"] if isinstance(r, str) and r))})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def write_claims(table: pd.DataFrame, path: Path) -> Path:
    """Write the claims table atomically (missing numbers as empty cells)."""
    from x2softmax.io import atomic_path

    with atomic_path(Path(path)) as tmp:
        table.to_csv(tmp, index=False)
    return Path(path)
