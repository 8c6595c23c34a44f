"""Uncertainty tables from per-run evaluation files: intervals, seeds, measurable FARs, paired comparisons."""

from __future__ import annotations

import hashlib
import json
import shutil
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from x2softmax.data.ijb import IDENTIFICATION_FILES, write_ijb_meta
from x2softmax.evaluate.identification import SEARCH_FIELDS, identification
from x2softmax.evaluate.curves import tar_at_far
from x2softmax.evaluate.seeds import TEST_ONLY
from x2softmax.evaluate.summary import identification_rows, ijb_rows, write_metrics
from x2softmax.evaluate.uncertainty import (POWER_TARGETS, UNSTABLE, optimistic_note,
                                            power_table, seed_verdict, uncertainty_tables, verdict, write_uncertainty)
from x2softmax.evaluate.verification import cosine_similarities, evaluate_pairs
from x2softmax.vocabulary import UNCERTAINTY_TABLES

N_PAIRS, N_TEMPLATES = 400, 80
RUNS = {"x2softmax": ("x2softmax", 2048, 1.6), "x2softmax.seed2049": ("x2softmax", 2049, 1.7),
        "arcface": ("arcface", 2048, 0.3), "arcface.seed2049": ("arcface", 2049, 0.4), "softmax": ("softmax", 2048, 1.0)}


def _identification(out: Path, rng: np.random.Generator, separation: float) -> dict:
    """1:N results of 40 enrolled subjects (20 per gallery) and 120 probes, written as the evaluation job does."""
    centres = rng.standard_normal((40, 8))
    subjects = np.repeat(np.arange(40), 3)
    probes = centres[subjects] + rng.standard_normal((120, 8)) / separation
    galleries = [(centres[:20] + rng.standard_normal((20, 8)) / separation, np.arange(20)),
                 (centres[20:] + rng.standard_normal((20, 8)) / separation, np.arange(20, 40))]
    result = identification(probes, subjects, galleries)
    arrays = {"probe/templates": np.arange(120)}
    for key, name in zip(IDENTIFICATION_FILES[:2], ("G1", "G2")):
        arrays.update({f"{key}/{f}": getattr(result["searches"][name], f) for f in SEARCH_FIELDS})
    np.savez(out / "ijb_IJBC_1N.npz", **arrays)
    return result


def _project(root: Path, runs: dict[str, tuple[str, int, float]]) -> Path:
    """Evaluation files, IJB meta and training summaries of `runs` (run -> loss, seed, embedding separation)."""
    rng = np.random.default_rng(0)
    issame = rng.random(N_PAIRS) < 0.5
    drawn = rng.choice(N_TEMPLATES * N_TEMPLATES, 3000, replace=False)  # distinct pairs: a repeat is refused
    t_pairs = np.c_[drawn // N_TEMPLATES, drawn % N_TEMPLATES] * 3 + 1  # sparse template ids
    t_labels = (rng.random(3000) < 0.2).astype(np.uint8)
    n_images = 2 * N_TEMPLATES
    write_ijb_meta(root / "data/IJBC", "IJBC", [f"{i}.jpg" for i in range(n_images)],
                   np.repeat(np.arange(N_TEMPLATES) * 3 + 1, 2), np.arange(n_images),
                   np.zeros((n_images, 5, 2), np.float32), np.ones(n_images, np.float32), np.c_[t_pairs, t_labels])
    for run, (loss, seed, separation) in runs.items():
        emb1 = rng.standard_normal((N_PAIRS, 8))
        emb2 = np.where(issame[:, None], emb1 + rng.standard_normal((N_PAIRS, 8)) / separation,
                        rng.standard_normal((N_PAIRS, 8)))
        cos = cosine_similarities(emb1, emb2)
        scores = {"lfw/issame": issame, "lfw/10fold": 2.0 - 2.0 * cos, "lfw/oracle": cos}
        out = root / "eval" / run
        out.mkdir(parents=True)
        np.savez(out / "verification_scores.npz", **scores)
        ijb_scores = (rng.normal(0.0, 1.0, 3000) + separation * t_labels).astype(np.float32)
        np.savez(out / "ijb_IJBC_scores.npz", scores=ijb_scores, labels=t_labels)
        rows = [("lfw", p, "accuracy_pct", 100.0 * evaluate_pairs(emb1, emb2, issame, p)["accuracy"], "")
                for p in ("10fold", "oracle")]
        n_imp = int((t_labels == 0).sum())
        rows += [("IJBC", "N1D1F2", m, v, note) for m, v, note in ijb_rows(
            tar_at_far(ijb_scores, t_labels), {"1e-06": f"not measurable: < 1/{n_imp}", "1e-05": "x", "1e-04": "x"})]
        rows += [("IJBC", "1N", m, v, note) for m, v, note in identification_rows(
            _identification(out, rng, separation))]
        write_metrics([{"run": run, "loss": loss, "dataset": d, "protocol": p, "metric": m, "value": v,
                        "checkpoint": "c", "note": note} for d, p, m, v, note in rows], out / "metrics.csv")
        (root / "train" / run).mkdir(parents=True)
        spec = {"loss": {"name": loss}, "train": {"seed": seed}}
        (root / "train" / run / "summary.json").write_text(json.dumps({"spec": spec}))
        (root / "train" / run / "backbone.pt").write_bytes(f"weights of {run}".encode())
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return _project(tmp_path_factory.mktemp("project"), RUNS)


@pytest.fixture(scope="module")
def tables(project) -> dict[str, pd.DataFrame]:
    return uncertainty_tables(list(RUNS), project / "eval", project / "train", project / "data", ["IJBC"],
                              "x2softmax", n_boot=200, seed=0)


def test_intervals_bracket_the_point_values(tables):
    ver = tables["verification_intervals"]
    assert set(ver["protocol"]) == {"10fold", "oracle"} and set(ver["run"]) == set(RUNS)
    assert (ver["ci_low"] <= ver["value"] + 1e-9).all() and (ver["value"] <= ver["ci_high"] + 1e-9).all()
    assert (ver["ci_high"] - ver["ci_low"] > 0.5).all()  # 400 pairs: intervals of several points
    assert set(ver["unit"]) == {"pairs within folds"}
    ijb = tables["ijb_intervals"]
    measured = ijb[ijb["value"].notna()]
    assert set(measured["unit"]) == {"templates"} and set(measured["protocol"]) == {"N1D1F2"}
    assert (measured["ci_low"] <= measured["ci_high"]).all()
    missing = ijb[ijb["value"].isna()]  # 2,4xx impostor pairs: FAR 1e-6 ... 1e-4 are not measurable
    assert set(missing["metric"]) == {"tar_at_far_1e-06_pct", "tar_at_far_1e-05_pct", "tar_at_far_1e-04_pct"}
    assert missing["note"].str.len().gt(0).all() and missing["ci_low"].isna().all()


def test_identification_intervals(tables):
    """1:N: rank-k and the measurable TPIRs with intervals over probe templates; FPIR 1e-4 ... 1e-2 (< 1/60
    non-mated probes per gallery) missing with the reason; X2 - baseline rows on the same resampled probes."""
    ident = tables["identification_intervals"]
    assert set(ident["protocol"]) == {"1N"} and set(ident["run"]) == set(RUNS)
    measured = ident[ident["value"].notna()]
    assert set(measured["unit"]) == {"probe templates"}
    assert set(measured["metric"]) == {"rank_1_pct", "rank_5_pct", "rank_10_pct", "tpir_at_fpir_1e-01_pct",
                                       "tpir_at_fpir_1e+00_pct"}
    assert (measured["ci_low"] <= measured["value"] + 1e-9).all()
    assert (measured["value"] <= measured["ci_high"] + 1e-9).all()
    missing = ident[ident["value"].isna()]
    assert set(missing["metric"]) == {"tpir_at_fpir_1e-04_pct", "tpir_at_fpir_1e-03_pct", "tpir_at_fpir_1e-02_pct"}
    assert missing["note"].str.startswith("not measurable: FPIR").all()
    assert not tables["ijb_intervals"]["protocol"].eq("1N").any()
    paired = tables["paired_comparisons"]
    rank1 = paired[(paired["protocol"] == "1N") & (paired["metric"] == "rank_1_pct")]
    assert set(rank1["baseline"]) == {"arcface", "softmax"}
    assert rank1.set_index("baseline").loc["arcface", "verdict"] == "X2 better"


def test_measurable_far(tables):
    far = tables["measurable_far"].set_index("dataset").loc["IJBC"]
    assert far["lowest_measurable_far"] == pytest.approx(1.0 / far["impostor_pairs"])
    assert far["templates"] == N_TEMPLATES and far["pairs"] == 3000


def test_seed_summary(tables):
    seeds = tables["seed_summary"].set_index(["base_run", "dataset", "protocol", "metric"])
    ver = tables["verification_intervals"].set_index(["run", "protocol"])["value"]
    row = seeds.loc[("x2softmax", "lfw", "10fold", "accuracy_pct")]
    values = [ver[("x2softmax", "10fold")], ver[("x2softmax.seed2049", "10fold")]]
    assert row["seeds"] == "2048 2049" and row["n_seeds"] == 2
    assert row["mean"] == pytest.approx(np.mean(values)) and row["std"] == pytest.approx(np.std(values, ddof=1))
    assert row["spread"] == pytest.approx(max(values) - min(values))
    single = seeds.loc[("softmax", "lfw", "10fold", "accuracy_pct")]
    assert single["n_seeds"] == 1 and math.isnan(single["std"]) and single["note"] == "one seed: no spread"
    assert math.isnan(single["spread"])
    # ranks by mean over seeds within each cell: 1 for the highest mean, a permutation of 1..runs
    for _, cell in tables["seed_summary"].groupby(["dataset", "protocol", "metric"]):
        measured = cell.dropna(subset=["mean"]).sort_values("mean", ascending=False)
        assert measured["rank"].tolist() == list(range(1, len(measured) + 1))
    lfw = seeds.xs(("lfw", "10fold", "accuracy_pct"), level=(1, 2, 3))
    assert lfw.loc["x2softmax", "rank"] == 1 and lfw.loc["arcface", "rank"] == 3  # separations 1.6-1.7 > 1.0 > 0.3


def test_paired_comparisons_have_verdicts(tables):
    paired = tables["paired_comparisons"]
    assert set(paired["baseline"]) == {"arcface", "softmax"}
    arc = paired[(paired["baseline"] == "arcface") & (paired["protocol"] == "10fold")].iloc[0]
    assert arc["seeds"] == "2048 2049"
    assert arc["difference"] == pytest.approx(arc["x2_mean"] - arc["baseline_mean"])
    assert arc["ci_low"] > 0 and arc["verdict"] == "X2 better"  # far better separated embeddings
    soft = paired[paired["baseline"] == "softmax"]
    assert set(soft["seeds"]) == {"2048"}  # one common seed: the seed variance pooled over the two-seed losses
    assert soft["note"].str.contains("pooled over x2softmax, arcface").all() and (soft["seed_df"] == 2).all()
    for row in paired.itertuples():
        assert row.verdict == verdict(row.ci_low, row.ci_high)
        assert row.ci_high - row.ci_low > row.test_high - row.test_low  # training noise widens it
        assert row.seed_low <= row.difference <= row.seed_high


def test_seeds_that_disagree_widen_the_interval_past_zero(tmp_path):
    """X2 far better than ArcFace with seed 2048 and far worse with seed 2049: each seed's test-set interval is
    decisive, the interval with the seeds' spread is not."""
    runs = {"x2softmax": ("x2softmax", 2048, 3.0), "x2softmax.seed2049": ("x2softmax", 2049, 0.2),
            "arcface": ("arcface", 2048, 0.2), "arcface.seed2049": ("arcface", 2049, 3.0)}
    root = _project(tmp_path, runs)
    paired = uncertainty_tables(list(runs), root / "eval", root / "train", root / "data", ["IJBC"], "x2softmax",
                                n_boot=200, seed=0)["paired_comparisons"]
    row = paired[(paired["protocol"] == "10fold")].iloc[0]
    assert row["seed_low"] < 0 < row["seed_high"]
    assert row["ci_low"] < 0 < row["ci_high"] and row["verdict"] == "no detectable difference"
    assert row["ci_high"] - row["ci_low"] > 3 * (row["test_high"] - row["test_low"])


def test_without_a_loss_of_two_seeds_training_noise_is_not_measured(tmp_path):
    runs = {"x2softmax": ("x2softmax", 2048, 1.6), "arcface": ("arcface", 2048, 0.3)}
    root = _project(tmp_path, runs)
    paired = uncertainty_tables(list(runs), root / "eval", root / "train", root / "data", ["IJBC"], "x2softmax",
                                n_boot=100, seed=0)["paired_comparisons"]
    assert (paired["note"] == TEST_ONLY).all() and (paired["seed_df"] == 0).all()
    np.testing.assert_array_equal(paired["ci_low"], paired["test_low"])
    np.testing.assert_array_equal(paired["ci_high"], paired["test_high"])


def test_seed_verdict_rule():
    assert seed_verdict(0.5, 2.0, [(0.1, 1.0), (0.2, 3.0)], [0.6, 1.5]) == "X2 better"  # every seed agrees
    assert seed_verdict(0.5, 2.0, [(0.1, 1.0), (-0.2, 3.0)], [0.6, 1.5]) == "X2 better"  # spread inside
    assert seed_verdict(0.5, 2.0, [(0.1, 1.0), (-3.0, -0.2)], [0.6, -1.5]) == UNSTABLE
    assert seed_verdict(-0.5, 2.0, [(0.1, 1.0), (-3.0, -0.2)], [0.6, -1.5]) == UNSTABLE  # n.d. mean, seeds split
    assert seed_verdict(-2.0, 2.0, [(0.1, 1.0), (-0.5, 0.4)], [0.6, 0.0]) == UNSTABLE  # one seed sees a difference
    assert seed_verdict(-2.0, 2.0, [(-0.1, 1.0), (-0.5, 0.4)], [0.6, 0.0]) == "no detectable difference"
    assert seed_verdict(0.5, 2.0, [(-1.0, 3.0)], [0.6]) == "X2 better"  # one seed: nothing to compare


def test_identical_backbones_get_the_identical_networks_verdict(project, tmp_path):
    # an ablation that trained the very same network as X2: same scores, same backbone bytes, another config
    root = tmp_path / "copy"
    shutil.copytree(project, root)
    for sub in ("eval", "train"):
        shutil.copytree(root / sub / "x2softmax", root / sub / "x2_h-0.2")
    metrics = root / "eval" / "x2_h-0.2" / "metrics.csv"
    pd.read_csv(metrics, keep_default_na=False).assign(run="x2_h-0.2").to_csv(metrics, index=False)
    spec = {"loss": {"name": "x2softmax", "hparams": {"h": -0.2}}, "train": {"seed": 2048}}
    (root / "train" / "x2_h-0.2" / "summary.json").write_text(json.dumps({"spec": spec}))
    paired = uncertainty_tables([*RUNS, "x2_h-0.2"], root / "eval", root / "train", root / "data", ["IJBC"],
                                "x2softmax", n_boot=50, seed=0)["paired_comparisons"]
    twin = paired[paired["baseline"] == "x2_h-0.2"]
    assert len(twin) and (twin["verdict"] == "identical networks").all()
    assert (twin["ci_low"] == 0).all() and (twin["ci_high"] == 0).all()
    assert twin["note"].str.contains("byte-identical").all()
    assert not (paired[paired["baseline"] != "x2_h-0.2"]["verdict"] == "identical networks").any()


def test_verdict_reads_the_interval():
    assert verdict(0.1, 0.5) == "X2 better"
    assert verdict(-0.5, -0.1) == "X2 worse"
    assert verdict(-0.1, 0.3) == "no detectable difference"
    assert verdict(0.0, 0.3) == "no detectable difference"
    assert verdict(float("nan"), 1.0) == ""


def test_verdict_counts_a_rounding_residue_as_zero():
    """83.5 - 84.0 summed from pair counts can end at -2.8e-14, not 0: the interval still touches 0."""
    upper = (501 / 600 - 504 / 600) * 100 + 0.5
    assert upper != 0.0 and abs(upper) < 1e-12
    assert verdict(-9.0, upper) == "no detectable difference"
    assert verdict(-upper, 4.0) == "no detectable difference"
    assert verdict(-9.0, -1e-6) == "X2 worse"


def test_tables_are_written_with_missing_cells_empty(tables, tmp_path):
    paths = write_uncertainty(tables, tmp_path)
    assert [p.stem for p in paths] == list(UNCERTAINTY_TABLES)
    text = (tmp_path / "ijb_intervals.csv").read_text()
    assert "tar_at_far_1e-06_pct,,,," in text and "nan" not in text.lower()


# sha256 of the tables written from this file's synthetic project (200 replicates, seed 0), computed with the code of
# c425708, before the verification weights were prepared once per key for every run: a change to the resampling or
# to any statistic that moves one byte of a table fails here.
PINNED_TABLES = {
    "verification_intervals": "a08c624b56c911885d0d3048c23d861c30741ee016804db7d62d7e96d61740b4",
    "ijb_intervals": "48439f7858ca77c847345145a90cf7911b08820b5fef84abd87bd5d49e181653",
    "identification_intervals": "ed90094e9bc4deaac64ddd003be19f1bf576b4aff8a95bf2402aa488af2a7d21",
    "seed_summary": "b7eb7c4981fe89a8aa7bc782e19da21a4f71121eb756fd97bfa09c3224190355",
    "measurable_far": "0db431381ee86ca4d5969bc4f6429d012087293ded7861290dc54d8f6ba2ecc6",
    "paired_comparisons": "b115c346c819e3542b4061e3e060c2e963086fdd2e53294f7bbaa453c3f367ee",
}


def test_tables_are_byte_identical_to_the_pinned_ones(tables, tmp_path):
    paths = write_uncertainty(tables, tmp_path)
    assert {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths} == PINNED_TABLES


def test_tables_do_not_depend_on_the_thread_count(project, tmp_path):
    """Three threads bootstrap the runs while this one draws the next key's weights: the pinned bytes still."""
    threaded = uncertainty_tables(list(RUNS), project / "eval", project / "train", project / "data", ["IJBC"],
                                  "x2softmax", n_boot=200, seed=0, threads=3)
    paths = write_uncertainty(threaded, tmp_path)
    assert {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths} == PINNED_TABLES


def test_oracle_intervals_are_labelled_optimistic(tables):
    ver = tables["verification_intervals"]
    oracle, ten_fold = ver[ver["protocol"] == "oracle"], ver[ver["protocol"] == "10fold"]
    assert oracle["note"].str.startswith("optimistic").all() and (ten_fold["note"] == "").all()
    assert optimistic_note("oracle_flip") == optimistic_note("oracle") != "" and optimistic_note("10fold") == ""


def test_power_table_reads_the_half_widths_against_the_targets(tables):
    paired = tables["paired_comparisons"]
    power = power_table(paired)
    assert len(power) == len(paired)
    np.testing.assert_allclose(power["half_width"], (paired["ci_high"] - paired["ci_low"]) / 2)
    accuracy = power[power["metric"] == "accuracy_pct"]
    assert (accuracy["target"] == POWER_TARGETS["accuracy_pct"]).all()
    assert (accuracy["meets_target"] == (accuracy["half_width"] <= 1.0)).all()
    other = power[~power["metric"].isin(list(POWER_TARGETS))]
    assert other["target"].isna().all() and (other["meets_target"] == "").all()


def test_power_table_keeps_only_the_datasets_asked_for() -> None:
    from x2softmax.evaluate.uncertainty import power_table

    paired = pd.DataFrame({"baseline": ["arcface", "arcface", "cosface"], "dataset": ["lfw", "IJBC", "lfw"],
                           "protocol": ["10fold", "N1D1F2", "10fold"], "metric": ["accuracy_pct"] * 3,
                           "seeds": [1, 1, 1], "ci_low": [-1.0, -2.0, -0.5], "ci_high": [1.0, 2.0, 0.5]})
    assert list(power_table(paired, ["lfw"])["baseline"]) == ["arcface", "cosface"]
    assert list(power_table(paired, ["lfw"])["half_width"]) == [1.0, 0.5]
    assert power_table(paired).equals(power_table(paired, ["lfw", "IJBC"]))
    assert power_table(paired, []).empty
