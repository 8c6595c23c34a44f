"""The DVC reviewer story on a real-data root: small datasets in the real formats, a paper-like preset, a local
remote, and a fresh clone that regenerates every report without a training job and without the training set.

The datasets are written by the synthetic generator in the real formats (RecordIO, .bin, IJB loose crops and meta)
under `realdata/`, a root the preset declares as real (`synthetic: false`): the DAG fetches and checks each dataset
(fetch markers, preflight), trains from the RecordIO and evaluates as the paper preset does. The generator's
MANIFEST.json in that root tells the dataset checks that its sizes are small by design (not MS1MV3's counts).

The trainer's run goes as far as what DVC versions (TRAINED: every output of dvc.yaml's stages and its metrics file);
its pages are not rendered, because the pages a reviewer sees are the clone's, which the regenerating run renders
from the pulled checkpoints (every page of the report: asserted below). Rendering them twice would test nothing
more (tests/workflow/test_workflow.py's smoke run renders them on the synthetic root).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from wfutil import BIN, copy_project, publish_with_dvc, run_tool, snakemake

pytestmark = pytest.mark.e2e

ROOT = "realdata"
SMOKE = yaml.safe_load((Path(__file__).resolve().parents[2] / "config/presets/smoke.yaml").read_text())
REQUIRED = ["ms1mv3", "lfw", "cfp_fp", "IJBB", "IJBC"]
# The trainer's run: what dvc.yaml's stages version (the datasets and their checks through the preflight, the class
# counts, the aligned IJB stores, the trained models through the summary's reports/metrics.json, the toy runs).
TRAINED = ["results/preflight.json", f"{ROOT}/class_counts.csv", "reports/metrics.json",
           *(f"results/toy/{loss}_{dim}d.npz" for loss in SMOKE["toy"]["losses"] for dim in SMOKE["toy"]["dims"])]


# Two runs, the paired comparison's two sides (X2-Softmax and its Softmax baseline), no ablation and no extra seed:
# a run's path through DVC (its checkpoint versioned, pushed, pulled and evaluated) is the same for every run, and
# the pages' ablation and seed sections are rendered from the smoke DAG's runs (tests/workflow/test_workflow.py).
RUNS = ["softmax", "x2softmax"]


def _preset() -> dict:
    """The smoke preset's sizes on the paper preset's real-data path (datasets checked, toy runs on the RecordIO),
    with the two runs of RUNS."""
    preset = {k: v for k, v in SMOKE.items() if k != "data"}
    preset.update(preset="paper-like-test", synthetic=False, data={"root": ROOT, "required": REQUIRED},
                  run_losses=RUNS, run_ablations=[], seeds={"extra": [], "runs": []})
    preset["toy"] = {**SMOKE["toy"], "settings": {**SMOKE["toy"]["settings"], "data": "recordio",
                                                  "train_dir": f"{ROOT}/train"}}
    return preset


def test_fresh_clone_regenerates_every_report_from_pulled_checkpoints_without_the_training_set(tmp_path: Path):
    from x2softmax.data.synthetic import generate
    from x2softmax.report.artifacts import PAGES

    project = copy_project(tmp_path / "project")
    generate(SMOKE["data"]["synthetic"], project / ROOT)
    preset = project / "config/presets/paper_like_test.yaml"
    preset.write_text(yaml.safe_dump(_preset(), sort_keys=False))
    (project / "params.yaml").write_text(yaml.safe_dump(
        {"preset": "config/presets/paper_like_test.yaml", "data_root": ROOT, "data_meta": f"{ROOT}/.checked"}))
    args = ("--configfile", "config/presets/paper_like_test.yaml")
    snakemake(project, *TRAINED, *args, timeout=1800)  # a hang guard: about a minute on a quiet 2-core machine
    assert (project / ROOT / ".checked/ms1mv3.json").is_file() and (project / "results/preflight.json").is_file()
    reports = sorted(Path("reports") / f"{page}.html" for page in ["index", *PAGES])  # every page

    publish_with_dvc(project, tmp_path / "remote", "trained the paper-like preset on real-format data")
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    outs = {out["path"] for stage in lock["stages"].values() for out in stage["outs"]}
    assert {f"{ROOT}/train", f"{ROOT}/val", f"{ROOT}/IJBB", f"{ROOT}/IJBC", f"{ROOT}/.checked", "results/train",
            "results/aligned", "results/toy"} <= outs  # one output per dataset: pullable one by one

    clone = tmp_path / "clone"
    run_tool(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    assert not (clone / "results/train").exists() and not (clone / ROOT / "val").exists()
    shutil.rmtree(clone / "reports")  # committed pages must come back from the regenerating run, not from git
    run_tool([str(BIN / "python"), "-m", "x2softmax.review", *args], clone)
    assert not (clone / ROOT / "train").exists()  # the training set was neither pulled nor needed
    assert (clone / ROOT / "val/lfw.bin").is_file() and (clone / ROOT / "IJBC/meta").is_dir()
    log = sorted((clone / ".snakemake/log").glob("*.snakemake.log"))[-1].read_text()
    assert "rule evaluate:" in log
    for rule in ("train", "toy", "fetch_dataset", "preflight", "class_counts", "align_ijb"):
        assert f"rule {rule}:" not in log, rule
    assert sorted(p.relative_to(clone) for p in (clone / "reports").rglob("*.html")) == reports
    for run in RUNS:
        assert (clone / f"results/eval/{run}/metrics.csv").is_file()
    assert sorted(p.name for p in (clone / "results/eval").iterdir() if p.is_dir()) == RUNS
