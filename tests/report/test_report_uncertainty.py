"""Formatting of the uncertainty tables: interval cells, "—" for missing values, footnotes, error bars."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from x2softmax.report import uncertainty as unc


def _intervals() -> pd.DataFrame:
    note = "not measurable: FAR 1e-06 < 1/258 impostor pairs (3.88e-03)"
    return pd.DataFrame([
        {"run": "x2softmax", "seed": 2048, "dataset": "IJBC", "metric": "tar_at_far_1e-02_pct", "far": 1e-2,
         "value": 55.5, "ci_low": 40.25, "ci_high": 70.0, "note": ""},
        {"run": "x2softmax", "seed": 2048, "dataset": "IJBC", "metric": "tar_at_far_1e-06_pct", "far": 1e-6,
         "value": math.nan, "ci_low": math.nan, "ci_high": math.nan, "note": note},
        {"run": "arcface", "seed": 2048, "dataset": "IJBC", "metric": "tar_at_far_1e-02_pct", "far": 1e-2,
         "value": 50.0, "ci_low": 45.0, "ci_high": 52.0, "note": ""},
        {"run": "arcface", "seed": 2048, "dataset": "IJBC", "metric": "tar_at_far_1e-06_pct", "far": 1e-6,
         "value": math.nan, "ci_low": math.nan, "ci_high": math.nan, "note": note},
    ])


def test_interval_text():
    assert unc.interval_text(97.5, 96.1, 98.6) == "97.50 [96.10, 98.60]"
    assert unc.interval_text(math.nan, 1.0, 2.0) == "—"
    assert unc.interval_text(50.0, math.nan, math.nan) == "50.00"
    assert unc.interval_text(-4.33, -9.0, -2.8e-14) == "−4.33 [−9.00, 0.00]"  # no −0.00


def test_interval_table_and_footnote():
    table = unc.interval_table(_intervals(), ["x2softmax", "arcface"], ["dataset", "metric"])
    assert list(table["run"]) == ["x2softmax", "arcface"]
    assert table.loc[0, "IJBC tar_at_far_1e-06_pct"] == "—"
    assert table.loc[0, "IJBC tar_at_far_1e-02_pct"] == "55.50 [40.25, 70.00]"
    assert unc.footnote(_intervals()) == "— IJBC: not measurable: FAR < 1/258 impostor pairs (3.88e-03)"
    assert unc.footnote(_intervals().assign(note="")) == ""


def test_seed_and_paired_tables():
    seeds = pd.DataFrame([
        {"base_run": "x2softmax", "loss": "x2softmax", "dataset": "lfw", "protocol": "10fold", "metric": "accuracy_pct",
         "seeds": "2048 2049", "n_seeds": 2, "mean": 91.0, "std": 0.5, "spread": 0.7, "rank": 1, "note": ""},
        {"base_run": "softmax", "loss": "softmax", "dataset": "lfw", "protocol": "10fold", "metric": "accuracy_pct",
         "seeds": "2048", "n_seeds": 1, "mean": 80.0, "std": math.nan, "spread": math.nan, "rank": 2,
         "note": "one seed: no spread"},
        {"base_run": "softmax", "loss": "softmax", "dataset": "IJBC", "protocol": "N1D1F2", "metric": "x",
         "seeds": "2048", "n_seeds": 0, "mean": math.nan, "std": math.nan, "spread": math.nan, "rank": math.nan,
         "note": "not measurable"},
    ])
    table = unc.seed_table(seeds, ["lfw", "IJBC"])
    # unmeasurable rows go to the footnote; range = max − min over the seeds, # = rank by mean over seeds
    assert table["mean ± std"].tolist() == ["91.00 ± 0.50 (range 0.70, #1)", "80.00 (#2)"]
    paired = pd.DataFrame([{"baseline": "arcface", "dataset": "lfw", "protocol": "10fold", "metric": "accuracy_pct",
                            "seeds": "2048 2049", "x2_mean": 91.0, "baseline_mean": 90.0, "difference": 1.0,
                            "ci_low": 0.2, "ci_high": 1.9, "verdict": "X2 better", "note": ""}])
    row = unc.paired_table(paired, ["lfw"]).iloc[0]
    assert row["X2 − baseline [95 %]"] == "1.00 [0.20, 1.90]" and row["verdict"] == "X2 better"


def test_read_uncertainty_names_a_missing_table(tmp_path):
    with pytest.raises(FileNotFoundError, match="verification_intervals.csv: uncertainty table not found"):
        unc.read_uncertainty(tmp_path)


def test_errorbar_figure_draws_one_series_per_run():
    fig = unc.errorbar_figure(_intervals(), ["x2softmax", "arcface"], panel="dataset", x="far", ylabel="TAR (%)",
                              log_x=True)
    ax = fig.axes[0]
    assert ax.get_title() == "IJBC" and ax.get_legend() is None  # one legend beside the panels, none over the data
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["x2softmax", "arcface"]
    empty = unc.errorbar_figure(_intervals().assign(value=math.nan), ["x2softmax"], "dataset", "far", "TAR (%)")
    assert "No measurable value" in empty.axes[0].texts[0].get_text()


def test_reader_layouts_pivot_seeds_and_comparisons_by_data_set():
    seeds = unc.seed_table(pd.DataFrame([
        {"base_run": "x2softmax", "loss": "x2softmax", "dataset": d, "protocol": p, "metric": "accuracy_pct",
         "seeds": "2048 2049", "n_seeds": 2, "mean": 91.0, "std": 0.5, "spread": 0.7, "rank": 1, "note": ""}
        for d in ("lfw", "cfp_fp") for p in ("10fold", "oracle")] + [
        {"base_run": "softmax", "loss": "softmax", "dataset": "lfw", "protocol": "10fold", "metric": "accuracy_pct",
         "seeds": "2048", "n_seeds": 1, "mean": 80.0, "std": math.nan, "spread": math.nan, "rank": 2,
         "note": "one seed: no spread"}]),
        ["lfw", "cfp_fp"])
    layout = unc.seed_layout(seeds)
    assert list(layout.columns) == ["base_run", "seeds", "protocol", "lfw", "cfp_fp"]
    assert layout["base_run"].tolist() == ["x2softmax", "x2softmax"]  # single-seed runs are in the interval table
    assert layout.loc[0, "lfw"] == "91.00 ± 0.50 (range 0.70, #1)"
    raw = pd.DataFrame([
        {"baseline": "arcface", "dataset": "IJBC", "protocol": "N1D1F2", "metric": f"tar_at_far_{far}_pct",
         "seeds": "2048", "x2_mean": 50.0, "baseline_mean": 49.0, "difference": diff, "ci_low": low,
         "ci_high": high, "verdict": verdict, "note": ""}
        for far, diff, low, high, verdict in [("1e-03", 1.0, -0.5, 2.0, "no detectable difference"),
                                              ("1e-02", -2.0, -3.0, -1.0, "X2 worse"),
                                              ("1e-06", math.nan, math.nan, math.nan, "")]])
    paired = unc.paired_table(raw, ["IJBC"])
    layout = unc.paired_layout(paired)
    assert list(layout.columns) == ["baseline", "seeds", "metric", "IJBC"]
    two = unc.paired_table(pd.concat([raw.assign(dataset="IJBB").iloc[:2], raw]), ["IJBB", "IJBC"])  # no 1e-06 in IJBB
    assert list(unc.paired_layout(two).columns)[-2:] == ["IJBB", "IJBC"]  # the table's order, not the FAR sort's
    assert layout["metric"].tolist() == ["TAR@1e-06", "TAR@1e-03", "TAR@1e-02"]  # in increasing FAR
    assert layout["IJBC"].tolist() == ["—", "1.00 [−0.50, 2.00] n.d.", "−2.00 [−3.00, −1.00] worse"]
    one_n = raw.iloc[:2].assign(protocol="1N", metric=["tpir_at_fpir_1e-02_pct", "rank_1_pct"])
    mixed = unc.paired_layout(unc.paired_table(pd.concat([one_n, raw]), ["IJBC"]))  # 1:1 next to 1:N: both keys
    assert list(mixed.columns) == ["baseline", "seeds", "protocol", "metric", "IJBC"]
    assert mixed[["protocol", "metric"]].values.tolist() == [["1N", "TPIR@1e-02"], ["1N", "rank-1"],
                                                             ["N1D1F2", "TAR@1e-06"], ["N1D1F2", "TAR@1e-03"],
                                                             ["N1D1F2", "TAR@1e-02"]]


def test_ablation_intervals_turn_x2_minus_ablation_round():
    paired = pd.DataFrame([
        {"baseline": "x2_k-0.8", "dataset": "lfw", "protocol": p, "metric": "accuracy_pct", "ci_low": lo,
         "ci_high": hi} for p, lo, hi in [("10fold", -1.0, 3.0), ("oracle", 5.0, 6.0)]])
    turned = unc.ablation_intervals(paired)
    assert turned.to_dict("records") == [{"run": "x2_k-0.8", "dataset": "lfw", "protocol": "10fold", "low": -3.0,
                                          "high": 1.0},
                                         {"run": "x2_k-0.8", "dataset": "lfw", "protocol": "oracle", "low": -6.0,
                                          "high": -5.0}]


def test_toy_comparison_layout_shows_interval_spread_and_outcome():
    comparisons = pd.DataFrame([{"loss": "x2softmax", "rival": "arcface", "dim": 2, "seeds": "1 2", "difference": -1.5,
                                 "ci_low": -2.0, "ci_high": -1.0, "seed_differences": "-1.2 -1.8", "seed_low": -1.8,
                                 "seed_high": -1.2, "seed_intervals": "-1.6:-0.8 -2.2:-1.4"}])
    layout = unc.toy_comparison_layout(comparisons)
    assert layout.iloc[0].tolist() == [2, "arcface", "1 2", "−1.50 [−2.00, −1.00]", "−1.80 … −1.20", "more compact"]
    assert "no toy comparison" in unc.toy_comparison_layout(comparisons.iloc[:0])["note"].iloc[0]


def test_tables_3_1_and_3_3_to_3_5_share_one_benchmark_order():
    """Whatever order the CSVs list the benchmarks in (here reversed and alphabetical), the accuracy table, the
    interval table and the seed/paired layouts show them in the one order of summaries.benchmark_order."""
    from x2softmax.report import summaries

    scrambled = ["cplfw", "agedb_30", "lfw", "calfw", "cfp_fp"]
    expected = ["lfw", "cfp_fp", "agedb_30", "calfw", "cplfw"]
    assert summaries.benchmark_order(scrambled + ["my_set"]) == expected + ["my_set"]
    summary = pd.DataFrame([{"run": r, "loss": r, "dataset": d, "protocol": "10fold", "metric": "accuracy_pct",
                             "value": 90.0, "checkpoint": "final"} for r in ("x2softmax", "arcface") for d in scrambled])
    table_3_1 = summaries.verification_table(summary, ["x2softmax", "arcface"])
    assert [c.split()[0] for c in table_3_1.columns[2:]] == expected
    intervals = pd.DataFrame([{"run": r, "seed": 2048, "dataset": d, "protocol": "10fold", "value": 90.0,
                               "ci_low": 89.0, "ci_high": 91.0, "note": ""} for r in ("x2softmax", "arcface")
                              for d in sorted(scrambled)])
    table_3_3 = unc.interval_table(intervals, ["x2softmax", "arcface"], ["dataset", "protocol"])
    assert [c.split()[0] for c in table_3_3.columns[2:]] == expected
    paired = pd.DataFrame([{"baseline": "arcface", "dataset": d, "protocol": "10fold", "metric": "accuracy_pct",
                            "seeds": "2048", "x2_mean": 91.0, "baseline_mean": 90.0, "difference": 1.0,
                            "ci_low": 0.2, "ci_high": 1.9, "verdict": "X2 better", "note": ""} for d in scrambled])
    table_3_5 = unc.paired_layout(unc.paired_table(paired, scrambled))
    assert list(table_3_5.columns[3:]) == expected


def test_power_sentence_names_the_widest_interval_and_the_verdict():
    power = pd.DataFrame({"baseline": ["arcface", "cosface", "arcface"], "dataset": ["lfw", "lfw", "IJBC"],
                          "protocol": ["10fold", "oracle", "N1D1F2"],
                          "metric": ["accuracy_pct", "accuracy_pct", "tar_at_far_1e-03_pct"],
                          "half_width": [0.8, 1.25, 2.5], "target": [1.0, 1.0, 3.0]})
    lines = unc.power_sentence(power).splitlines()
    assert lines == ["accuracy: the widest paired X2 − baseline interval is ±1.25 points (cosface, lfw, oracle); "
                     "target ±1: not met (1 of 2 intervals within it).",
                     "TAR@1e-03: the widest paired X2 − baseline interval is ±2.50 points (arcface, IJBC, N1D1F2); "
                     "target ±3: met (1 of 1 intervals within it)."]
    assert "No paired" in unc.power_sentence(power.assign(target=math.nan))


def test_power_and_measurable_layouts() -> None:
    power = pd.DataFrame({"baseline": ["a", "b"], "target": [1.0, None], "half_width": [0.4, 0.6]})
    assert list(unc.power_layout(power)["baseline"]) == ["a"]
    measurable = pd.DataFrame({"dataset": ["IJBC"], "lowest_measurable_far": [1 / 7000]})
    assert list(unc.measurable_layout(measurable)["lowest_measurable_far"]) == ["1.43e-04"]
    assert measurable["lowest_measurable_far"].dtype == float  # the saved table keeps the number


def test_the_verdict_overview_and_what_the_intervals_hold():
    paired = pd.DataFrame([
        {"baseline": b, "dataset": d, "protocol": p, "metric": "accuracy_pct", "seeds": s, "difference": diff,
         "ci_low": diff - 0.5, "ci_high": diff + 0.5, "verdict": v, "seed_df": df,
         "note": "test-set noise and training noise: between-seed variance pooled over x2softmax, arcface (4 df), "
                 "equal seed variance across losses assumed" if df else "test-set noise only: training noise not "
                 "measured (no loss trained with two seeds)"}
        for b, d, p, s, diff, v, df in [("arcface", "lfw", "10fold", "1 2 3", 1.0, "X2 better", 4),
                                        ("arcface", "lfw", "oracle", "1 2 3", -1.0, "X2 worse", 4),
                                        ("softmax", "lfw", "10fold", "1", 0.1, "no detectable difference", 4),
                                        ("cosface", "lfw", "10fold", "1", -2.0, "X2 worse", 0)]])
    overview = unc.verdict_overview(paired, [])
    assert "10-fold accuracy" in overview and "3 comparisons" in overview  # the 10-fold (headline) rows only
    assert "- **X2 better**: 1 (arcface on lfw 1.00 [0.50, 1.50])" in overview
    assert overview.index("X2 better") < overview.index("X2 worse") < overview.index("no detectable difference")
    words = unc.interval_words(paired)
    assert words.startswith("3 of 4 intervals hold the test-set noise") and "(x2softmax, arcface; 4 degrees" in words
    assert "1 intervals hold the test-set noise only" in words and "about 10 % (2 × 5 %)" in words
