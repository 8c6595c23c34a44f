"""The claims scoreboard: each row's verdict recomputes from the table it links; degenerate comparisons named."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from x2softmax.report import claims

PAIRED_COLUMNS = ["baseline", "dataset", "protocol", "metric", "seeds", "difference", "ci_low", "ci_high",
                  "verdict", "seed_low", "seed_high", "seed_df"]


def _paired_rows():
    return [
        ("arcface", "lfw", "10fold", "accuracy_pct", "2048 2049", 1.5, 0.5, 2.5, "X2 better", 1.2, 1.8, 2),
        ("arcface", "lfw", "oracle", "accuracy_pct", "2048 2049", -9.0, -10.0, -8.0, "X2 worse", -9.5, -8.5, 2),
        ("cosface", "lfw", "10fold", "accuracy_pct", "2048", -2.0, -3.0, -1.0, "X2 worse", -2.0, -2.0, 0),
        ("arcface", "IJBC", "N1D1F2", "tar_at_far_1e-03_pct", "2048", 4.0, -1.0, 9.0, "no detectable difference",
         4.0, 4.0, 2),
        ("arcface", "IJBC", "N1D1F2", "tar_at_far_1e-04_pct", "2048", 3.0, 1.0, 5.0, "X2 better", 3.0, 3.0, 2),
        ("cosface", "IJBC", "N1D1F2", "tar_at_far_1e-06_pct", "2048", math.nan, math.nan, math.nan, "", math.nan,
         math.nan, 0),
        ("cosface", "IJBC", "N1D1F2", "tar_at_far_1e-02_pct", "2048", 0.0, -1.0, 1.0, "no detectable difference",
         0.0, 0.0, 0),
        ("x2_a-0.5", "lfw", "10fold", "accuracy_pct", "2048 2049", 0.2, -3.0, 3.5, "no detectable difference", -2.9,
         3.1, 2),
        ("arcface", "IJBC", "1N", "rank_1_pct", "2048", 2.0, 0.5, 3.5, "X2 better", 2.0, 2.0, 2),
        ("arcface", "IJBC", "1N", "tpir_at_fpir_1e-02_pct", "2048", -1.0, -2.0, 0.5, "no detectable difference",
         -1.0, -1.0, 2),
        ("x2_a-0.5", "IJBC", "1N", "rank_1_pct", "2048", 2.0, 0.5, 3.5, "X2 better", 2.0, 2.0, 2),
    ]


@pytest.fixture
def project(tmp_path) -> Path:
    tables = tmp_path / "reports" / "tables"
    tables.mkdir(parents=True)
    pd.DataFrame([{"loss": "x2softmax", "shape": "U-shaped", "min_margin_deg": 36.2, "min_at_deg": 94.0},
                  {"loss": "arcface", "shape": "constant", "min_margin_deg": 28.6, "min_at_deg": 1.0}]).to_csv(
        tables / "01_margin_at_angles.csv", index=False)
    pd.DataFrame([
        {"loss": "x2softmax", "rival": "arcface", "dim": 2, "seeds": "1 2", "difference": -0.5, "ci_low": -0.9,
         "ci_high": -0.2, "seed_differences": "-0.4 -0.6", "seed_low": -0.6, "seed_high": -0.4,
         "seed_intervals": "-0.8:-0.1 -0.9:-0.3"},
        {"loss": "x2softmax", "rival": "arcface", "dim": 3, "seeds": "1 2", "difference": 0.1, "ci_low": -2.0,
         "ci_high": 2.0, "seed_differences": "-1.5 1.7", "seed_low": -1.5, "seed_high": 1.7,
         "seed_intervals": "-1.8:-1.2 1.4:2.0"}]).to_csv(tables / "02_toy_seed_comparison.csv", index=False)
    unc = tmp_path / "results" / "uncertainty"
    unc.mkdir(parents=True)
    pd.DataFrame(_paired_rows(), columns=PAIRED_COLUMNS).to_csv(unc / "paired_comparisons.csv", index=False)
    return tmp_path


def _health(root: Path, saturated: str = "", identical: str = "") -> None:
    (root / "results" / "summary").mkdir(parents=True, exist_ok=True)
    runs = ["x2softmax", "arcface", "cosface", "x2_a-0.5"]
    pd.DataFrame({"run": runs, "base_run": runs, "saturated": [r == saturated for r in runs],
                  "identical_to": [identical if r == "x2softmax" else "" for r in runs]}).to_csv(
        root / "results" / "summary" / "run_health.csv", index=False)


CONFIG = {"synthetic": False, "ablations": {"x2_a-0.5": {"loss": "x2softmax", "hparams": {"a": -0.5}}}}
EXPECTED = {"X2 better": "holds", "X2 worse": "does not hold", "no detectable difference": "no detectable difference"}


def _linked_row(root: Path, row: pd.Series) -> pd.Series:
    """The row of the linked evidence table that a claim row reads."""
    table = pd.read_csv(root / row["evidence_table"])
    if row["evidence_table"].endswith("01_margin_at_angles.csv"):
        return table[table["loss"] == row["subject"]].iloc[0]
    if row["evidence_table"].endswith("02_toy_seed_comparison.csv"):
        return table[(table["rival"] == row["subject"]) & (table["dim"] == int(row["benchmark"][4]))].iloc[0]
    metric, protocol = row["metric"].split(" (")[0], row["metric"].split("(")[1].split(")")[0]
    return table[(table["baseline"] == row["subject"]) & (table["dataset"] == row["benchmark"])
                 & (table["metric"] == metric) & (table["protocol"] == protocol)].iloc[0]


def test_every_verdict_recomputes_from_the_table_it_links(project):
    _health(project)
    table = claims.claims_table(project / "reports", project / "results", CONFIG)
    # margin; toy 2-D, 3-D; arcface/cosface on lfw and IJBC; arcface at 1:N (rank-1; the ablation's 1:N row is not a
    # claim); the ablation on lfw
    assert len(table) == 1 + 2 + 4 + 1 + 1
    for _, row in table.iterrows():
        linked = _linked_row(project, row)
        if row["benchmark"] == "analysis":
            assert row["verdict"] == ("holds" if linked["shape"] == "increasing" else "does not hold")
        elif row["benchmark"].startswith("toy"):
            seeds = [tuple(map(float, p.split(":"))) for p in linked["seed_intervals"].split()]
            agree = all(hi < 0 for _, hi in seeds) and linked["ci_high"] < 0
            split = any(hi < 0 for _, hi in seeds) and any(lo > 0 for lo, _ in seeds)
            assert row["verdict"] == ("holds" if agree else "unstable over seeds" if split else row["verdict"])
        else:
            assert row["verdict"] == EXPECTED[linked["verdict"]]
            assert (row["effect"], row["ci_low"], row["ci_high"]) == (linked["difference"], linked["ci_low"],
                                                                      linked["ci_high"])
    one_n = table[table["claim"] == claims.IDENTIFICATION_CLAIM]
    assert one_n["subject"].tolist() == ["arcface"] and one_n["metric"].iloc[0] == "rank_1_pct (1N), X2 − arcface"
    assert one_n["verdict"].iloc[0] == "holds"
    assert table["claim"].tolist().index(claims.IDENTIFICATION_CLAIM) > table["claim"].tolist().index(
        claims.BASELINE_CLAIM)
    ijb = table[(table["benchmark"] == "IJBC") & (table["claim"] == claims.BASELINE_CLAIM)].set_index("subject")["metric"]
    assert ijb["arcface"].startswith("tar_at_far_1e-04_pct") and ijb["cosface"].startswith("tar_at_far_1e-02_pct")
    lfw = table[table["benchmark"] == "lfw"].set_index("subject")
    assert lfw.loc["x2_a-0.5", "claim"] == "the default X2 beats the ablation"
    assert lfw.loc["x2_a-0.5", "stable_over_seeds"] == ("yes (training noise in the interval: 2 seeds, seed variance "
                                                         "pooled, 2 df)")
    assert lfw.loc["cosface", "stable_over_seeds"] == "one seed: training noise not measured"
    assert table.iloc[0]["verdict"] == "does not hold" and "94°" in table.iloc[0]["reason"]


def test_synthetic_runs_cannot_test_the_real_face_claims(project):
    _health(project)
    table = claims.claims_table(project / "reports", project / "results", {**CONFIG, "synthetic": True})
    trained = table[~table["benchmark"].isin(["analysis", "toy 2-D", "toy 3-D"])]
    assert (trained["verdict"] == "not testable here").all() and trained["reason"].str.contains("synthetic").all()
    assert set(trained["result"]) == {"X2 better", "X2 worse", "no detectable difference"}
    assert table[table["benchmark"] == "toy 2-D"]["verdict"].tolist() == ["holds"]  # digits: still testable


def test_degenerate_comparisons_are_named(project):
    table = claims.claims_table(project / "reports", project / "results", CONFIG)
    trained = table[table["evidence_table"] == claims.PAIRED]
    assert trained["degenerate"].str.startswith("check not run").all()  # no run_health.csv: older results
    _health(project, saturated="cosface", identical="arcface")
    table = claims.claims_table(project / "reports", project / "results", CONFIG).set_index(["subject", "benchmark"])
    assert table.loc[("arcface", "lfw"), "verdict"] == "identical networks"
    assert table.loc[("cosface", "lfw"), "verdict"] == "not testable here"
    assert "saturated: cosface" in table.loc[("cosface", "lfw"), "degenerate"]
    assert table.loc[("x2_a-0.5", "lfw"), "degenerate"] == ""
    saturated, identical = claims.run_health(pd.DataFrame({
        "run": ["x2softmax.seed2049", "arcface.seed2049"], "base_run": ["x2softmax", "arcface"],
        "saturated": ["False", "True"], "identical_to": ["arcface.seed2049", "x2softmax.seed2049"]}))
    assert saturated == {"arcface"} and identical == {"x2softmax": {"arcface"}, "arcface": {"x2softmax"}}


def test_missing_tables_are_not_testable(tmp_path):
    table = claims.claims_table(tmp_path / "reports", tmp_path / "results", CONFIG)
    assert (table["verdict"] == "not testable here").all() and table["reason"].str.len().gt(0).all()


def test_the_summary_gives_each_claim_one_verdict_from_its_rows(project):
    """One summary row per claim; its verdict and counts recompute from the claim's rows, and a planted row that
    contradicts the others turns 'holds' into 'mixed'."""
    table = claims.claims_table(project / "reports", project / "results", CONFIG)
    summary = claims.claims_summary(table).set_index("claim")
    assert list(summary.index) == list(dict.fromkeys(table["claim"]))
    for claim, group in table.groupby("claim"):
        assert summary.loc[claim, "comparisons"] == len(group)
        assert summary.loc[claim, "verdict"] == claims.claim_verdict(list(group["verdict"]))
    assert claims.claim_verdict([claims.HOLDS, claims.HOLDS]) == claims.HOLDS
    assert claims.claim_verdict([claims.HOLDS, claims.NO_DIFFERENCE]).startswith("holds for some")
    assert claims.claim_verdict([claims.HOLDS, claims.FAILS]) == "mixed"
    assert claims.claim_verdict([claims.FAILS, claims.UNSTABLE]).startswith("does not hold for some")
