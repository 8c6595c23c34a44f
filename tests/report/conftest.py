"""Fixtures of the report tests: a small results tree that follows docs/architecture.md (random, well-formed data)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from run_specs import planted_spec  # tests/support
from shared import built_once, shared_dir  # tests/support

from x2softmax.evaluate.identification import identification
from x2softmax.evaluate.summary import identification_rows
from x2softmax.evaluate.seeds import TEST_ONLY
from x2softmax.losses import default_hparams
from x2softmax.report.artifacts import NOTEBOOKS, figure_paths, table_paths
from x2softmax.train.health import run_health, write_run_health

REFERENCE_CSV = Path(__file__).resolve().parents[2] / "config" / "reference_numbers.csv"
RUNS = ["softmax", "arcface", "x2softmax"]
ABLATIONS = {"x2_exact_grad": {"loss": "x2softmax", "hparams": {"gradient": "exact"}},
             "x2_a-0.5": {"loss": "x2softmax", "hparams": {"a": -0.5}}}
LOSS_SPECS = {"softmax": {"name": "softmax", "hparams": {}},
              "arcface": {"name": "arcface", "hparams": {"s": 64.0, "m": 0.5}},
              "x2softmax": {"name": "x2softmax", "hparams": {"s": 64.0, "a": -0.9, "h": 0.0, "k": 0.65}}}
SUITES = ["IJBB", "IJBC"]
DATASETS = ["lfw", "cfp_fp", "agedb_30"]
TOY_LOSSES = ["arcface", "x2softmax"]
DIMS = [2, 3]
CLASSES, EMBEDDING = 40, 16


PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db40000000049454e44ae426082"
)


def _populate_reports(reports: Path, skip: str | None = None) -> None:
    """Every notebook page, figure and table as tiny placeholder files (except notebook `skip`)."""
    for nb in NOTEBOOKS:
        if nb == skip:
            continue
        home = reports / NOTEBOOKS[nb].get("study", "")  # a study page lives in its own folder
        home.mkdir(parents=True, exist_ok=True)
        (home / f"{nb}.html").write_text(f"<html><body>{nb}</body></html>")
        for path in figure_paths(nb, home / "figures") + table_paths(nb, home / "tables"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(PNG_1PX if path.suffix == ".png" else b"x")


def _margin_curves(theta_w: np.ndarray) -> dict[str, np.ndarray]:
    """Closed-form ArcFace/CosFace margins and a U-shaped X2-like curve (deg) at θ_w (deg)."""
    half = np.sin(np.deg2rad(theta_w) / 2)
    cos = np.rad2deg(2 * np.arcsin(np.clip(0.35 / (2 * half), -1, 1)))
    cos[0.35 / (2 * half) > 1] = np.nan
    x2 = np.where(theta_w >= 40, 36.25 + 0.004 * (theta_w - 94) ** 2, np.nan)
    return {"arcface": np.full_like(theta_w, np.rad2deg(0.5)), "cosface": cos, "x2softmax": x2}


def _write_margins(out: Path) -> None:
    """The five margin CSVs of results/analysis/margins."""
    out.mkdir(parents=True, exist_ok=True)
    theta = np.arange(0, 181, 1.0)
    rad = np.deg2rad(theta)
    f = {"arcface": np.cos(rad + 0.5), "cosface": np.cos(rad) - 0.35, "x2softmax": 0.65 - 0.9 * rad**2}
    pd.concat([pd.DataFrame({"loss": k, "theta_deg": theta, "f": v, "cosine_margin": np.cos(rad) - v})
               for k, v in f.items()]).to_csv(out / "target_logits.csv", index=False)
    theta_w = np.arange(1, 181, 1.0)
    pd.concat([pd.DataFrame({"loss": k, "theta_w_deg": theta_w, "margin_deg": v})
               for k, v in _margin_curves(theta_w).items()]).to_csv(out / "angular_margins.csv", index=False)
    grid, grid_m = [], []
    for param, values in {"a": [-0.5, -0.9, -1.2], "h": [-0.2, 0.0], "k": [0.5, 0.65, 0.8]}.items():
        for v in values:
            a, h, k = {"a": (v, 0.0, 0.65), "h": (-0.9, v, 0.65), "k": (-0.9, 0.0, v)}[param]
            fx = a * (rad - h) ** 2 + k
            grid.append(pd.DataFrame({"param": param, "a": a, "h": h, "k": k, "theta_deg": theta, "f": fx,
                                      "cosine_margin": np.cos(rad) - fx}))
            grid_m.append(pd.DataFrame({"param": param, "a": a, "h": h, "k": k, "theta_w_deg": theta_w,
                                        "margin_deg": _margin_curves(theta_w)["x2softmax"] * (1 + abs(a))}))
    pd.concat(grid).to_csv(out / "x2_grid.csv", index=False)
    pd.concat(grid_m).to_csv(out / "x2_grid_margins.csv", index=False)
    rows = []
    for loss in f:
        for tw in (45.0, 90.0, 135.0):
            m = _margin_curves(np.array([tw]))[loss][0]
            rows.append({"loss": loss, "theta_w_deg": tw, "boundary1_deg": (tw - m) / 2, "boundary2_deg": (tw + m) / 2})
    pd.DataFrame(rows).to_csv(out / "boundaries.csv", index=False)


def _write_uncertainty(out: Path, summary: pd.DataFrame) -> None:
    """Well-formed uncertainty tables (the layout of x2softmax.evaluate.uncertainty) around the summary's values."""
    out.mkdir(parents=True, exist_ok=True)
    rows = summary[summary["metric"].isin(["accuracy_pct"]) | summary["metric"].str.startswith("tar_at_far")
                   | (summary["protocol"] == "1N")]
    rows = rows.assign(base_run=rows["run"], seed=2048, ci_low=rows["value"] - 2.0, ci_high=rows["value"] + 1.5,
                       replicates=1000, far=pd.to_numeric(rows["metric"].str.extract(r"tar_at_far_(.+)_pct")[0]))
    columns = ["run", "base_run", "loss", "seed", "dataset", "protocol", "metric", "value", "ci_low", "ci_high",
               "replicates", "unit", "note", "far"]
    is_ijb, is_1n = rows["dataset"].isin(SUITES) & (rows["protocol"] != "1N"), rows["protocol"] == "1N"
    rows[~is_ijb & ~is_1n].assign(unit="pairs within folds")[columns].to_csv(out / "verification_intervals.csv",
                                                                             index=False)
    rows[is_ijb].assign(unit="templates")[columns].to_csv(out / "ijb_intervals.csv", index=False)
    rows[is_1n].assign(unit="probe templates")[columns].to_csv(out / "identification_intervals.csv", index=False)
    seeds = rows.assign(seeds="2048", n_seeds=rows["value"].notna().astype(int), mean=rows["value"], std=np.nan,
                        spread=np.nan)
    seeds = seeds.assign(rank=seeds.groupby(["dataset", "protocol", "metric"])["mean"].rank(ascending=False,
                                                                                            method="min"))
    seeds[["base_run", "loss", "dataset", "protocol", "metric", "seeds", "n_seeds", "mean", "std", "spread", "note",
           "rank"]].to_csv(out / "seed_summary.csv", index=False)
    pd.DataFrame({"dataset": SUITES, "pairs": 3000, "impostor_pairs": 2700, "templates": 300,
                  "lowest_measurable_far": 1 / 2700}).to_csv(out / "measurable_far.csv", index=False)
    x2 = rows[rows["run"] == "x2softmax"].set_index(["dataset", "protocol", "metric"])["value"]
    paired = []
    for baseline in ("softmax", "arcface"):
        base = rows[rows["run"] == baseline].set_index(["dataset", "protocol", "metric"])["value"]
        for key, value in base.items():
            diff = x2[key] - value
            paired.append({"baseline": baseline, "dataset": key[0], "protocol": key[1], "metric": key[2],
                           "seeds": "2048", "x2_mean": x2[key], "baseline_mean": value, "difference": diff,
                           "ci_low": diff - 1.0, "ci_high": diff + 1.0,
                           "verdict": "" if np.isnan(diff) else ("X2 better" if diff > 1 else "X2 worse" if diff < -1
                                                                 else "no detectable difference"),
                           "note": TEST_ONLY, "seed_differences": f"{diff:.6g}", "seed_low": diff, "seed_high": diff,
                           "test_low": diff - 1.0, "test_high": diff + 1.0, "seed_sd": np.nan, "seed_df": 0,
                           "interval_df": np.inf})
    pd.DataFrame(paired).to_csv(out / "paired_comparisons.csv", index=False)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _fake_identification(rng: np.random.Generator, out: Path, suite: str) -> dict:
    """A real 1:N result (x2softmax.evaluate.identification) on random features: 20 subjects in two galleries, 3 probes
    each (30 non-mated searches per gallery: FPIR 1e-2 and below not measurable); written as the evaluation job."""
    centres = _unit(rng.normal(size=(20, 16)))
    subjects = np.repeat(np.arange(20), 3)
    probes = _unit(centres[subjects] + 0.9 * rng.normal(size=(60, 16)))
    galleries = [(_unit(centres[ids] + 0.5 * rng.normal(size=(10, 16))), ids)
                 for ids in (np.arange(10), np.arange(10, 20))]
    result = identification(probes, subjects, galleries)
    del result["searches"]
    (out / f"ijb_{suite}_1N.json").write_text(json.dumps({"dataset": suite, **result}))
    return result


def build_fake_results(root: Path, seed: int = 0) -> dict[str, dict]:
    """Write a fake results tree under root/results and return the papermill parameters of every notebook."""
    rng = np.random.default_rng(seed)
    results = root / "results"
    _write_margins(results / "analysis" / "margins")

    for loss in TOY_LOSSES:
        for dim in DIMS:
            centres = _unit(rng.normal(size=(8, dim)))
            labels = np.repeat(np.arange(8), 12)
            feats = _unit(centres[labels] + 0.15 * rng.normal(size=(len(labels), dim)))
            path = results / "toy" / f"{loss}_{dim}d.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            angles = np.rad2deg(np.arccos(np.clip(np.sum(feats * centres[labels], axis=1), -1, 1)))
            seed_angles = np.stack([angles, *(angles * (1 + 0.1 * rng.normal(size=angles.shape)) for _ in range(2))])
            np.savez(path, features=feats.astype(np.float32), labels=labels, centres=centres.astype(np.float32),
                     loss=np.array(loss), dim=np.array(dim), seeds=np.array([2048, 2049, 2050]),
                     seed_test_index=np.stack([np.roll(np.arange(len(labels)), k) for k in range(3)]),
                     seed_angles=seed_angles)

    all_runs = RUNS + list(ABLATIONS)
    rows = []
    notes: dict[tuple[str, str, str], str] = {}
    for run in all_runs:
        loss = ABLATIONS[run]["loss"] if run in ABLATIONS else run
        for ds in DATASETS:
            acc = 90 + 9 * rng.random()
            rows += [(run, loss, ds, "10fold", "accuracy_pct", acc), (run, loss, ds, "10fold", "accuracy_std_pct", 0.5),
                     (run, loss, ds, "oracle", "accuracy_pct", acc + 0.3)]
        for suite in SUITES:
            for i, far in enumerate(["1e-06", "1e-05", "1e-04", "1e-03", "1e-02", "1e-01"]):
                rows.append((run, loss, suite, "N1D1F2", f"tar_at_far_{far}_pct", 40 + 10 * i + rng.random()))
            labels = (rng.random(3000) < 0.1).astype(np.uint8)
            scores = np.clip(rng.normal(0.1 + 0.5 * labels, 0.15), -1, 1).astype(np.float32)
            (results / "eval" / run).mkdir(parents=True, exist_ok=True)
            np.savez(results / "eval" / run / f"ijb_{suite}_scores.npz", scores=scores, labels=labels)
            one_n = identification_rows(_fake_identification(rng, results / "eval" / run, suite))
            rows += [(run, loss, suite, "1N", metric, value) for metric, value, _ in one_n]
            notes.update({(run, suite, metric): note for metric, _, note in one_n if note})
        train = results / "train" / run
        train.mkdir(parents=True, exist_ok=True)
        lines = [{"step": s, "epoch": s // 20, "loss": 10 * np.exp(-s / 30) + rng.random(), "acc": 1 - np.exp(-s / 30),
                  "lr": 0.1 if s < 40 else 0.01, "grad_norm": 1.0, "images_per_s": 500.0,
                  "target_prob_median": float(np.exp(-40 * np.exp(-s / 15))), "target_prob_below_1e-6": np.exp(-s / 10)}
                 for s in range(0, 60, 5)]
        if run == "x2_exact_grad":  # planted: a run that ends saturated (loss above 10 nats)
            lines = [{**line, "loss": line["loss"] + 20.0} for line in lines]
        lines.append({"step": 60, "epoch": 3, "set": "lfw", "accuracy": 0.9})
        (train / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
        hparams = {**default_hparams(loss), **({"s": 8.0} if "s" in default_hparams(loss) else {}),
                   **(ABLATIONS[run]["hparams"] if run in ABLATIONS else {})}
        (train / "summary.json").write_text(json.dumps({
            "run": run, "loss": loss, "steps": 60, "wall_time_s": 12.5, "images_per_s": 510.0, "peak_memory_mb": 900.0,
            "data_hash": "ab" * 32, "device": "cpu",
            "spec": planted_spec(run, loss, hparams)}))
        torch.save({"weight": torch.randn(CLASSES, EMBEDDING)}, train / "head.pt")
        # every run's backbone differs, but x2_a-0.5's is planted byte-identical to x2softmax's (a no-op ablation)
        torch.save({"w": torch.full((3,), float(all_runs.index(run if run != "x2_a-0.5" else "x2softmax")))},
                   train / "backbone.pt")
        bench = results / "benchmarks" / f"train_{run}.tsv"
        bench.parent.mkdir(parents=True, exist_ok=True)
        bench.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                         "13.1\t0:00:13\t950.2\t2000\t900\t910\t1.0\t2.0\t95.0\t12.0\n")
    summary = pd.DataFrame(rows, columns=["run", "loss", "dataset", "protocol", "metric", "value"]).assign(
        checkpoint="0123456789ab", note="")
    not_measurable = summary["metric"] == "tar_at_far_1e-06_pct"  # as with fewer than 1e6 impostor pairs
    summary.loc[not_measurable, "value"] = np.nan
    summary.loc[not_measurable, "note"] = "not measurable: FAR 1e-06 < 1/2700 impostor pairs (3.70e-04)"
    for (run, suite, metric), note in notes.items():  # 1:N FPIRs below 1 / non-mated probes
        summary.loc[(summary["run"] == run) & (summary["dataset"] == suite) & (summary["metric"] == metric),
                    "note"] = note
    (results / "summary").mkdir(parents=True, exist_ok=True)
    summary.to_csv(results / "summary" / "metrics.csv", index=False)
    _write_uncertainty(results / "uncertainty", summary)
    health_csv = write_run_health(run_health(results / "train", all_runs), results / "summary" / "run_health.csv")
    data = results / "data"
    data.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"class_id": np.arange(CLASSES), "count": rng.integers(4, 60, CLASSES)}).to_csv(
        data / "class_counts.csv", index=False)
    (data / "MANIFEST.json").write_text(json.dumps({"generator": "x2softmax.data.synthetic 1", "seed": 7,
                                                    "files": {"train/train.rec": "cd" * 32}}))
    reference = root / "config" / "reference_numbers.csv"
    reference.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REFERENCE_CSV, reference)

    _write_fake_study(results, rng)
    common = {"results_dir": str(results), "figures_dir": str(root / "reports" / "figures"),
              "tables_dir": str(root / "reports" / "tables"), "synthetic": True, "preset": "fake",
              "data_root": str(data), "datasets": []}
    return {
        "01_margins": common | {"margins_dir": str(results / "analysis" / "margins")},
        "02_toy": common | {"toy_dir": str(results / "toy"), "toy_losses": TOY_LOSSES, "dims": DIMS,
                            "toy_data": "digits"},
        "03_verification": common | {"summary_csv": str(results / "summary" / "metrics.csv"),
                                     "reference_csv": str(reference), "runs": RUNS,
                                     "uncertainty_dir": str(results / "uncertainty"),
                                     "train_dir": str(results / "train"), "run_health_csv": str(health_csv)},
        "04_ijb": common | {"summary_csv": str(results / "summary" / "metrics.csv"),
                            "reference_csv": str(reference), "eval_dir": str(results / "eval"), "runs": RUNS,
                            "suites": SUITES, "uncertainty_dir": str(results / "uncertainty"),
                            "train_dir": str(results / "train"), "run_health_csv": str(health_csv)},
        "05_training": common | {"train_dir": str(results / "train"), "benchmarks_dir": str(results / "benchmarks"),
                                 "runs": all_runs, "run_health_csv": str(health_csv)},
        "06_ablations": common | {"summary_csv": str(results / "summary" / "metrics.csv"),
                                  "train_dir": str(results / "train"), "ablations": ABLATIONS,
                                  "default_run": "x2softmax", "uncertainty_dir": str(results / "uncertainty"),
                                  "run_health_csv": str(health_csv)},
        "07_geometry": common | {"train_dir": str(results / "train"),
                                 "class_counts_csv": str(data / "class_counts.csv"),
                                 "runs": RUNS, "loss_specs": LOSS_SPECS},
        "08_mechanism": common | {"results_dir": str(results / "mechanism"),
                                  "figures_dir": str(root / "reports" / "mechanism" / "figures"),
                                  "tables_dir": str(root / "reports" / "mechanism" / "tables"),
                                  "study_tables_dir": str(results / "mechanism" / "tables"),
                                  "run_health_csv": str(results / "mechanism" / "run_health.csv"),
                                  "loss_specs": {run: {"name": run, "hparams": default_hparams(run)}
                                                 for run in ("arcface", "cosface", "x2softmax")}},
    }


def _write_fake_study(results: Path, rng: np.random.Generator) -> None:
    """A fake controlled study (x2softmax.analysis.study_tables' inputs for the mechanism preset's six worlds, 30
    classes per head), its tables written to results/mechanism/tables and its run health."""
    from x2softmax import config as xcfg
    from x2softmax.analysis.worlds import worlds
    from x2softmax.analysis.geometry import realised_margins
    from x2softmax.analysis.study_tables import write_study_tables
    from x2softmax.config import load_config

    config, study = load_config("mechanism"), results / "mechanism"
    runs, health = xcfg.runs(config), []
    for world in worlds(config):
        share, geometry, kinds = world.synthetic["train"]["lookalike_share"], [], []
        for run in runs:
            loss, seed = xcfg.base_run(run), xcfg.seed_of(config, run)
            angle = rng.uniform(60, 95, 30)
            kept = 5 + (0.2 if loss == "x2softmax" else 0.0) * (angle - 75) + rng.normal(0, 2, 30)
            geometry.append(pd.DataFrame({
                "run": run, "loss": loss, "seed": seed, "class_id": range(30), "count": 10, "nearest_class": 0,
                "weight_angle_deg": angle, "kept_margin_deg": kept - 3, "kept_margin_q10_deg": kept,
                "train_accuracy": np.clip(0.8 + 0.004 * (angle - 75) + rng.normal(0, 0.05, 30), 0, 1),
                "analytic_margin_deg": np.rad2deg(realised_margins(np.deg2rad(angle), loss,
                                                                   xcfg.loss_hparams(config, loss)))}))
            overall = 90 - 3 * share + rng.normal(0, 0.5)
            for benchmark, present in (("lfw", ("genuine", "lookalike", "random")), ("calfw", ("genuine", "lookalike"))):
                kinds += [{"run": run, "loss": loss, "seed": seed, "benchmark": benchmark, "kind": kind, "pairs": 100,
                           "accuracy": overall / 100 - 0.05 * (kind == "lookalike") + rng.normal(0, 0.01)}
                          for kind in present]
            out = study / world.name / "eval" / run
            out.mkdir(parents=True, exist_ok=True)
            pd.DataFrame([{"run": run, "loss": loss, "dataset": b, "protocol": "10fold", "metric": "accuracy_pct",
                           "value": overall, "checkpoint": "", "note": ""} for b in ("lfw", "calfw")]).to_csv(
                out / "metrics.csv", index=False)
            health.append({"run": f"{world.name}/train/{run}", "base_run": run, "loss": loss, "seed": seed,
                           "final_loss": 1.0, "target_prob_median": 0.5, "target_prob_below_1e-6": 0.0,
                           "saturated": False, "backbone_sha256": f"{len(health):064x}", "identical_to": ""})
        pd.concat(geometry).to_csv(study / world.name / "geometry.csv", index=False)
        pd.DataFrame(kinds).to_csv(study / world.name / "kinds.csv", index=False)
    write_study_tables(study, config, study / "tables")
    pd.DataFrame(health).to_csv(study / "run_health.csv", index=False)


@pytest.fixture(scope="session")
def fake_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    """A fake results tree (root, papermill parameters per notebook), built once per test run: the xdist workers
    share it (the first builds it under a file lock). Tests only read it."""
    shared = shared_dir(tmp_path_factory)
    root, params = shared / "fake", shared / "fake" / "params.json"

    def build() -> None:
        root.mkdir()
        params.write_text(json.dumps(build_fake_results(root)))

    built_once(shared / "fake.done", build)
    return root, json.loads(params.read_text())


@pytest.fixture
def populate_reports():
    """The function that fills a reports folder with placeholder pages, figures (1-pixel PNGs) and tables."""
    return _populate_reports


@pytest.fixture
def tiny_png() -> bytes:
    """A valid 1x1 PNG."""
    return PNG_1PX


NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def _execute_notebook(nb: str, params: dict, out: Path) -> Path:
    """Run one report notebook with papermill into `out` (its parameters passed as the workflow does: one dict)."""
    papermill = pytest.importorskip("papermill")
    out.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(NOTEBOOK_DIR / f"{nb}.ipynb"), str(out), parameters={"parameters": params},
                               kernel_name="python3", progress_bar=False)
    return out


@pytest.fixture
def run_notebook():
    """The function that executes a report notebook anew (nb, papermill parameters, output path) → output path."""
    return _execute_notebook


@pytest.fixture(scope="session")
def executed_notebook(fake_tree: tuple[Path, dict[str, dict]]) -> Callable[[str], Path]:
    """nb → the notebook executed on the fake tree (results/notebooks/NB.ipynb): once per test run, shared by every
    test that only reads it and by the xdist workers (the first executes it under a file lock)."""
    root, params = fake_tree

    def executed(nb: str) -> Path:
        out = root / "results" / "notebooks" / f"{nb}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        built_once(out.with_suffix(".done"), lambda: _execute_notebook(nb, params[nb], out))
        return out

    return executed
