"""Result tables and verdicts the notebooks show, on small hand-made inputs and the fake tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from x2softmax.io import read_json
from x2softmax.report import summaries


def _curve(loss, theta, margin):
    return pd.DataFrame({"loss": loss, "theta_w_deg": theta, "margin_deg": margin})


def test_margin_shape_classifies_curves():
    theta = np.arange(1, 181, 1.0)
    assert summaries.margin_shape(theta, np.full_like(theta, 28.6)) == "constant"
    assert summaries.margin_shape(theta, theta * 0.6) == "increasing"
    assert summaries.margin_shape(theta, 100 - theta * 0.3) == "decreasing"
    assert summaries.margin_shape(theta, (theta - 90) ** 2 / 100) == "U-shaped"
    assert summaries.margin_shape(theta, np.sin(np.deg2rad(4 * theta))) == "non-monotone"
    assert summaries.margin_shape(theta, np.full_like(theta, np.nan)) == "undefined"


def test_margin_at_angles_reads_the_nearest_tabulated_angle():
    theta = np.arange(1, 181, 1.0)
    table = summaries.margin_at_angles(_curve("sphere", theta, theta * 0.6), [60, 90.2, 200])
    row = table.iloc[0]
    assert row["margin_at_60_deg"] == pytest.approx(36.0)
    assert row["margin_at_90.2_deg"] == pytest.approx(54.0)
    assert np.isnan(row["margin_at_200_deg"])
    assert row["min_at_deg"] == 1.0 and row["exists_from_deg"] == 1.0


def test_verification_and_reference_tables(fake_tree):
    root, params = fake_tree
    p = params["03_verification"]
    summary = summaries.read_table(p["summary_csv"], summaries.SUMMARY_COLUMNS)
    reference = summaries.read_table(p["reference_csv"], summaries.REFERENCE_COLUMNS)
    table = summaries.verification_table(summary, ["x2softmax", "arcface"])
    assert list(table["run"]) == ["x2softmax", "arcface"]
    assert list(table.columns[:5]) == ["run", "loss", "lfw 10fold", "lfw 10fold std", "lfw oracle"]
    expected = summary.query("run == 'arcface' and dataset == 'lfw' and protocol == 'oracle'")["value"].item()
    assert table.set_index("run").loc["arcface", "lfw oracle"] == expected
    comparison = summaries.reference_comparison(summary, reference, ["arcface", "x2softmax"], synthetic=True)
    assert set(comparison["run"]) == {"arcface"}  # no published X2-Softmax numbers exist
    row = comparison.query("dataset == 'lfw' and source.str.contains('2021')", engine="python").iloc[0]
    assert np.isnan(row["difference"]) and row["comparable"] == "no: synthetic data"  # no Δ synthetic − published
    assert comparison["difference"].isna().all() and "difference" not in summaries.reference_layout(comparison)
    real = summaries.reference_comparison(summary, reference, ["arcface"], synthetic=False)
    row = real.query("dataset == 'lfw' and source.str.contains('2021')", engine="python").iloc[0]
    assert row["difference"] == pytest.approx(row["value"] - 99.83)
    shown = summaries.reference_layout(real)
    assert list(shown.columns[:6]) == ["run", "dataset", "comparable", "value", "reference_value", "difference"]
    no_flip = reference[(reference["method"] == "ArcFace") & (reference["benchmark"] == "LFW")].head(1).assign(
        protocol="10-fold (no flip)", source="a made-up row under another protocol")
    comparison = summaries.reference_comparison(summary, pd.concat([reference, no_flip]), ["arcface"], synthetic=False)
    same = (((comparison["protocol"] == "10fold") & comparison["reference_protocol"].str.startswith("10-fold flip"))
            | ((comparison["protocol"] == "N1D1F2") & (comparison["reference_protocol"] == "N1D1F2")))
    other = comparison[~same]
    assert len(other) and comparison.loc[same, "difference"].notna().all()
    assert other["difference"].isna().all() and (other["comparable"] == "no: published under another protocol").all()
    missing = summary.assign(value=np.nan, note="not measurable: FAR 1e-04 < 1/9 impostor pairs")
    unmeasured = summaries.reference_comparison(missing, reference, ["arcface"], synthetic=False)
    assert unmeasured["difference"].isna().all()
    assert (unmeasured["comparable"] == "no: not measurable on this run's pairs").all()
    with pytest.raises(ValueError, match="no rows for run"):
        summaries.verification_table(summary, ["nope"])


def test_ijb_table_has_our_rows_and_published_rows(fake_tree):
    _, params = fake_tree
    p = params["04_ijb"]
    summary = summaries.read_table(p["summary_csv"], summaries.SUMMARY_COLUMNS)
    reference = summaries.read_table(p["reference_csv"], summaries.REFERENCE_COLUMNS)
    table = summaries.ijb_tar_table(summary, reference, ["arcface"], ["IJBC"])
    ours = table[table["source"] == "this run"]
    assert list(ours["method"]) == ["arcface"]
    assert list(table.columns[:2]) == ["method", "source"]  # four published ArcFace rows told apart at the left
    assert not table.duplicated(["method", "source"]).any()
    tar_columns = [c for c in table.columns if c.startswith("TAR")]
    assert tar_columns[:6] == [f"TAR@FAR={far} IJBC" for far in ("1e-06", "1e-05", "1e-04", "1e-03", "1e-02", "1e-01")]
    # a published row under another (or an unstated) protocol gets its own, labelled column, never this run's
    assert tar_columns[6:] == ["TAR@FAR=1e-04 IJBC (AdaFace own IJB script (no faceness))",
                               "TAR@FAR=1e-04 IJBC (not stated)"]
    adaface = table[table["method"] == "AdaFace"].iloc[0]
    assert np.isnan(adaface["TAR@FAR=1e-04 IJBC"]) and adaface["protocol"].startswith("AdaFace own")
    published = table[table["source"].str.contains("2021 model zoo")].iloc[0]
    assert published["TAR@FAR=1e-04 IJBC"] == 96.46 and published["TAR@FAR=1e-05 IJBC"] == 94.79
    assert set(ours["protocol"]) == {"N1D1F2"}


def test_roc_points_match_sklearn():
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(0)
    labels = rng.random(5000) < 0.2
    scores = rng.normal(labels * 1.0, 1.0)
    roc = summaries.roc_points(scores, labels, max_points=100)
    fpr, tpr, _ = roc_curve(labels, scores)
    assert len(roc) <= 100 and roc["far"].is_monotonic_increasing
    idx = np.searchsorted(fpr, roc["far"].to_numpy())
    assert np.allclose(tpr[idx], roc["tar"])
    with pytest.raises(ValueError, match="both genuine"):
        summaries.roc_points(scores, np.ones_like(labels))
    tied = np.round(scores, 1)  # ties, boolean labels, every point kept: scikit-learn's ROC to the bit
    fpr, tpr, _ = roc_curve(labels, tied)
    whole = summaries.roc_points(tied, labels, max_points=10 ** 6)
    assert np.array_equal(whole["far"], fpr[fpr > 0]) and np.array_equal(whole["tar"], tpr[fpr > 0])


def test_training_tables(fake_tree):
    _, params = fake_tree
    p = params["05_training"]
    curves = summaries.training_curves(p["train_dir"], ["arcface"])
    assert curves["loss"].notna().all() and "set" not in curves.dropna(axis=1).columns
    cost = summaries.training_cost_table(p["train_dir"], p["benchmarks_dir"], ["arcface"]).iloc[0]
    assert cost["images_per_s"] == 510.0 and cost["peak_memory_mb"] == 900.0 and cost["job_max_rss_mb"] == 950.2
    units = ("_s", "_mb", "per_s", "_pct_of_one_core")  # every measured column names its unit
    measured = [c for c in cost.index if c not in ("run", "loss", "steps", "device")]
    assert all(c.endswith(units) for c in measured), measured


def test_ablation_table_differences(fake_tree):
    _, params = fake_tree
    p = params["06_ablations"]
    summary = summaries.read_table(p["summary_csv"], summaries.SUMMARY_COLUMNS)
    table = summaries.ablation_table(summary, p["ablations"], "x2softmax").set_index("run")
    assert table.loc["x2softmax", "overrides"] == "defaults" and table.loc["x2_a-0.5", "overrides"] == "a=-0.5"
    delta = table.loc["x2_a-0.5", "lfw 10fold"] - table.loc["x2softmax", "lfw 10fold"]
    assert table.loc["x2_a-0.5", "Δ lfw 10fold"] == pytest.approx(delta)


def test_bad_inputs_name_the_file(tmp_path):
    missing = tmp_path / "metrics.csv"
    with pytest.raises(FileNotFoundError, match="metrics.csv"):
        summaries.read_table(missing, ["run"])
    missing.write_text("run,value\na,1\n")
    with pytest.raises(ValueError, match=r"metrics.csv: missing column\(s\) \['loss'\]"):
        summaries.read_table(missing, ["run", "loss"])
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1, "loss": 2.0}\n{broken\n')
    with pytest.raises(ValueError, match="metrics.jsonl:2"):
        summaries.read_jsonl(log)
    (tmp_path / "summary.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        read_json(tmp_path / "summary.json")


def test_not_run_note_names_what_the_title_promises_but_was_not_run():
    assert summaries.not_run_note(["a", "h", "k"], ["a"], "ablations of", "why") == (
        "**Not run in this configuration:** ablations of h, k (why).")
    assert summaries.not_run_note(["a"], ["a", "b"], "x", "y") == ""
    assert summaries.ablated_parameters({"r1": {"hparams": {"a": 1}}, "r2": {"hparams": {"gradient": "exact"}},
                                         "r3": {}}) == ["a", "gradient"]


def test_the_margin_table_agrees_with_page_01s_closed_forms():
    """Page 01's prose: ArcFace constant (m), CosFace shrinks, SphereFace grows. A margin wider than the half circle
    (ArcFace for θ_w < m: the class wins only near its antipode) is no margin, so it does not make ArcFace
    'decreasing'."""
    from x2softmax.analysis.margins import angular_margin

    theta = np.arange(1, 181, 1.0)
    angular = pd.concat([pd.DataFrame({"loss": name, "theta_w_deg": theta, "margin_deg": np.rad2deg(angular_margin(name, np.deg2rad(theta)))})
                         for name in ("arcface", "cosface", "sphereface")])
    assert angular["margin_deg"].max() > 180  # ArcFace's wrapped margins are in the input
    table = summaries.margin_at_angles(angular, [90]).set_index("loss")
    assert dict(table["shape"]) == {"arcface": "constant", "cosface": "decreasing", "sphereface": "increasing"}
    assert table.loc["arcface", "exists_from_deg"] == pytest.approx(29.0)
    assert table.loc["arcface", "margin_at_90_deg"] == pytest.approx(np.rad2deg(0.5))
    arcface = angular[angular["loss"] == "arcface"]
    assert summaries.margin_shape(theta, arcface["margin_deg"]) == "decreasing"  # the old reading, wraps included


def test_reference_rows_cite_the_evaluation_notebook_of_their_own_benchmark():
    """insightface keeps one evaluation notebook per IJB suite; a row must cite its own suite's notebook, and a label
    the cited source does not state reads "not stated" (CurricularFace's README states neither data nor protocol)."""
    import re

    from tests.report.conftest import REFERENCE_CSV

    reference = summaries.read_table(REFERENCE_CSV, summaries.REFERENCE_COLUMNS)
    cited = reference[reference["source"].str.contains(r"IJB[BC]_Evaluation", regex=True)]
    assert len(cited) >= 2
    for _, row in cited.iterrows():
        suite = re.search(r"IJB([BC])_Evaluation", row["source"]).group(1)
        assert row["benchmark"] == f"IJB-{suite}", f"{row['benchmark']} cites {row['source']}"
    curricular = reference[reference["method"] == "CurricularFace"]
    assert len(curricular) and (curricular[["train_data", "protocol"]] == "not stated").all().all()


def test_accuracy_rows_keep_the_pair_benchmarks_of_the_runs(tmp_path: Path) -> None:
    summary = pd.DataFrame({
        "run": ["a", "a", "a", "b", "a", "a"], "loss": "x", "checkpoint": "c",
        "dataset": ["lfw", "lfw", "IJBC", "lfw", "lfw", "cfp_fp"],
        "protocol": ["10fold", "oracle", "N1D1F2", "10fold", "oracle_flip", "10fold"],
        "metric": ["accuracy_pct", "accuracy_pct", "accuracy_pct", "accuracy_pct", "accuracy_pct", "accuracy_std_pct"],
        "value": [99.0, 98.0, 50.0, 97.0, 96.0, 0.5]})
    assert list(summaries.accuracy_rows(summary, ["a"]).index) == [0, 1]
    assert list(summaries.pair_rows(summary)["dataset"]) == ["lfw", "lfw", "lfw", "lfw", "cfp_fp"]
    summary.to_csv(tmp_path / "metrics.csv", index=False)
    published = Path(__file__).resolve().parents[2] / "config" / "reference_numbers.csv"
    metrics, reference = summaries.read_metrics_and_reference(tmp_path / "metrics.csv", published)
    assert len(metrics) == 6 and set(summaries.REFERENCE_COLUMNS) <= set(reference.columns)


def test_the_tar_layout_opens_on_the_measurable_fars(fake_tree):
    """Table 4.1 as shown: this run's measurable FARs first, an unmeasurable FAR with published numbers after them
    (labelled), a FAR with no number at all left out; the CSV table keeps every column."""
    _, params = fake_tree
    p = params["04_ijb"]
    summary = summaries.read_table(p["summary_csv"], summaries.SUMMARY_COLUMNS)
    reference = summaries.read_table(p["reference_csv"], summaries.REFERENCE_COLUMNS)
    table = summaries.ijb_tar_table(summary, reference, ["arcface"], ["IJBC"])
    table.loc[table["source"] == "this run", "TAR@FAR=1e-05 IJBC"] = np.nan  # below 1 / impostor pairs here
    table["TAR@FAR=1e-06 IJBC"] = np.nan  # nobody has a number
    shown = summaries.tar_layout(table)
    tar = [c for c in shown.columns if "IJBC" in c.split()]
    assert tar[0] == "1e-04 IJBC" and "1e-06 IJBC" not in " ".join(tar)
    assert tar.index("1e-05 IJBC not measurable here") > tar.index("1e-01 IJBC")
    assert shown.columns[-1] == "backbone · data · protocol" and "protocol" not in shown.columns
    published = shown[shown["source"].str.contains("2021 model zoo")].iloc[0]
    assert published["1e-05 IJBC not measurable here"] == 94.79
