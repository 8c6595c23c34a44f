"""The whole DAG on the smoke preset: outputs, sane metrics, exact incremental reruns, the GPU lease of its jobs.

Every test here shares one smoke run (the `smoke_project` fixture, tests/workflow/conftest.py): the only smoke DAG
of a test run, built once and shared by the xdist workers, so a test elsewhere that only reads the run (a new loss
or benchmark reaching its pages) may use it too. No test changes it: one plans on it with an extra config file, or
edits a `linked_copy` of it (hard links, instant). "Nothing to be done" after the run is checked once, through `make replicate`
as the README writes it (the last test); the DVC reviewer story is tests/workflow/test_dvc_real_data.py's.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from extend import PROBE_BENCHMARK, PROBE_LOSS, PROBE_SOURCE
from wfutil import (BIN, SMOKE, env, linked_copy, planned_jobs, readme_command, replace_file, snakemake, venv_standin,
                    wildcard_values)

pytestmark = pytest.mark.e2e

from x2softmax import config as xcfg
from x2softmax.gpucheck.smoke import pooled_accuracy

SMOKE_CFG = yaml.safe_load((Path(__file__).resolve().parents[2] / "config/presets/smoke.yaml").read_text())
RUNS = xcfg.runs(xcfg.load_config("smoke"))  # loss runs, ablation runs, then the extra-seed runs
PROJECT_RUNS = [*RUNS, PROBE_LOSS]  # the smoke project's: the preset's and the loss the fixture adds (extend.py)


def test_report_and_metrics_exist_with_sane_values(smoke_project: Path) -> None:
    index = smoke_project / "reports/index.html"
    assert index.exists() and index.stat().st_size > 1000
    metrics = pd.read_csv(smoke_project / "results/summary/metrics.csv")
    assert set(metrics["run"]) == set(PROJECT_RUNS)
    acc = metrics[(metrics["metric"] == "accuracy_pct") & (metrics["protocol"] == "10fold")]
    assert set(acc["run"]) == set(PROJECT_RUNS)
    # above chance pooled over every run and set (gpu-check's test: one 60-pair smoke set can sit at 50 % by
    # chance), and every run's own pooled accuracy above 50 %
    pooled = pooled_accuracy(metrics, smoke_project / "results/eval")
    assert pooled["above_chance"], pooled
    for run in RUNS:
        assert pooled_accuracy(metrics[metrics["run"] == run], smoke_project / "results/eval")["pooled_accuracy_pct"] > 50
    assert (acc["value"] <= 100.0).all()
    for run in RUNS:
        summary = json.loads((smoke_project / f"results/train/{run}/summary.json").read_text())
        assert summary["steps"] > 0


def test_pages_show_only_what_they_mean_to_and_fit_the_report(smoke_project: Path) -> None:
    """Every executed notebook of the real DAG shows page blocks and Markdown only (no stray value, print or warning),
    and every page links the shared stylesheet, which exists."""
    import nbformat

    from x2softmax.report.artifacts import PAGES
    from notebook_outputs import stray_outputs  # tests/support

    assert (smoke_project / "reports/style.css").is_file()
    for nb in PAGES:
        executed = nbformat.read(smoke_project / f"results/notebooks/{nb}.ipynb", as_version=4)
        assert stray_outputs(executed) == [], nb
        page = (smoke_project / f"reports/{nb}.html").read_text(encoding="utf-8")
        assert 'href="style.css"' in page and "base64" not in page and '<footer class="provenance">' in page


def test_a_local_runs_training_jobs_lease_their_gpus(smoke_project: Path) -> None:
    """A local run's training jobs get the GPU lease in their shell commands (test_lease_env.py: the submitting
    process never does; test_slurm.py: the Slurm jobs)."""
    logs = sorted((smoke_project / "logs/train").glob("*.log"))
    assert logs
    for log in logs:
        decision = [ln for ln in log.read_text().splitlines() if "GPU lease decision" in ln]
        assert decision == ["x2softmax: GPU lease decision: GPUs leased with file locks (X2S_GPU_LEASE=1)"], log


def test_hyperparameter_change_reruns_only_that_loss(smoke_project: Path, tmp_path: Path) -> None:
    extra = tmp_path / "arcface_m.yaml"
    extra.write_text("losses:\n  arcface: {s: 64.0, m: 0.45}\n")
    jobs = planned_jobs(smoke_project, *SMOKE, str(extra))
    assert wildcard_values(jobs, "train", "run") == {"arcface", "arcface.seed2049"}  # every seed of that loss
    assert wildcard_values(jobs, "evaluate", "run") == {"arcface", "arcface.seed2049"}
    assert "synthesize" not in jobs and "align_ijb" not in jobs
    assert wildcard_values(jobs, "toy", "loss") <= {"arcface"}
    assert "index" in jobs


def test_jobs_run_under_the_cpu_pins_and_a_change_of_setting_reruns_the_numeric_jobs(smoke_project: Path,
                                                                                     tmp_path: Path) -> None:
    record = json.loads((smoke_project / "results/environment.json").read_text())
    assert record["cpu_kernels"] == "avx2" and "ATEN_CPU_CAPABILITY=avx2" in record["code_path_environment"]
    if "avx2" in record["cpu_flags"].split():
        assert record["aten_cpu_capability"] == "AVX2"  # AVX-512 or not, the jobs' ATen ran its AVX2 kernels
    extra = tmp_path / "native.yaml"
    extra.write_text("cpu_kernels: native\n")
    jobs = planned_jobs(smoke_project, *SMOKE, str(extra))
    assert (wildcard_values(jobs, "train", "run") == set(PROJECT_RUNS)
            and wildcard_values(jobs, "evaluate", "run") == set(PROJECT_RUNS))
    assert "toy" in jobs and "synthesize" not in jobs and "align_ijb" not in jobs


def test_uncertainty_tables_have_intervals_and_verdicts(smoke_project: Path) -> None:
    assert {"x2softmax.seed2049", "arcface.seed2049"} <= set(RUNS)
    ver = pd.read_csv(smoke_project / "results/uncertainty/verification_intervals.csv")
    assert set(ver["run"]) == set(PROJECT_RUNS) and set(ver["protocol"]) == {"10fold", "oracle", "oracle_flip"}
    assert (ver["ci_low"] <= ver["ci_high"]).all()
    paired = pd.read_csv(smoke_project / "results/uncertainty/paired_comparisons.csv")
    assert set(paired["baseline"]) == {"softmax", "arcface", "x2_exact_grad", PROBE_LOSS}
    assert set(paired.loc[paired["baseline"] == "arcface", "seeds"].astype(str)) == {"2048 2049"}
    assert set(paired["verdict"]) <= {"X2 better", "no detectable difference", "X2 worse"}
    metrics = json.loads((smoke_project / "reports/metrics.json").read_text())
    ijb = metrics["x2softmax"]["IJBC"]["N1D1F2"]
    assert ijb["tar_at_far_1e-06_pct"] is None and ijb["not_measurable"]["tar_at_far_1e-06_pct"].startswith("not meas")


def test_reported_tar_equals_the_reference_reading_of_each_runs_scores(smoke_project: Path) -> None:
    """Acceptance: every measurable TAR cell equals insightface's reading (flipud, nearest FPR) of the run's scores."""
    import numpy as np
    from sklearn.metrics import roc_curve

    metrics = pd.read_csv(smoke_project / "results/summary/metrics.csv", keep_default_na=False)
    tar = metrics[metrics["metric"].str.startswith("tar_at_far_")]
    checked = 0
    for row in tar.itertuples():
        with np.load(smoke_project / f"results/eval/{row.run}/ijb_{row.dataset}_scores.npz") as npz:
            labels, scores = npz["labels"], npz["scores"]
        far = float(row.metric.removeprefix("tar_at_far_").removesuffix("_pct"))
        if far < 1.0 / int((labels == 0).sum()):
            assert row.value == "" and row.note.startswith("not measurable"), row
            continue
        fpr, tpr, _ = roc_curve(labels, scores)
        fpr, tpr = np.flipud(fpr), np.flipud(tpr)
        _, index = min(zip(abs(fpr - far), range(len(fpr))))
        assert float(row.value) == 100.0 * tpr[index], row
        checked += 1
    assert checked >= 2 * len(RUNS)


def test_reported_1n_equals_the_reference_on_each_runs_saved_features(smoke_project: Path) -> None:
    """Acceptance: every run's 1:N cells (rank-k, TPIR at each measurable FPIR) equal the transcription of
    insightface's evaluation_1N / run_model_test_1N on the template features the run saved; both suites, every run;
    the page shows the table and both figures."""
    import numpy as np
    from reference_identification import run_1n

    metrics = pd.read_csv(smoke_project / "results/summary/metrics.csv", keep_default_na=False)
    one_n = metrics[metrics["protocol"] == "1N"].set_index(["run", "dataset", "metric"])
    checked = 0
    for run in RUNS:
        for suite in ("IJBB", "IJBC"):
            with np.load(smoke_project / f"results/eval/{run}/ijb_{suite}_1N.npz") as npz:
                feats = {k: (npz[f"{k}/features"].astype(np.float64), npz[f"{k}/subjects"])
                         for k in ("probe", "gallery_1", "gallery_2")}
            fpirs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
            ref = run_1n(*feats["probe"], *feats["gallery_1"], *feats["gallery_2"], fpirs)
            for k in (1, 5, 10):
                assert float(one_n.loc[(run, suite, f"rank_{k}_pct"), "value"]) == pytest.approx(
                    100.0 * ref[f"top_{k}"], abs=1e-9)
            for fpir, tpir in zip(fpirs, ref["mean_tpir"]):
                cell = one_n.loc[(run, suite, f"tpir_at_fpir_{fpir:.0e}_pct")]
                if cell["value"] == "":
                    assert cell["note"].startswith("not measurable: FPIR")
                else:
                    assert float(cell["value"]) == pytest.approx(100.0 * tpir, abs=1e-9)
                    checked += 1
    assert checked >= 2 * len(RUNS)
    page = (smoke_project / "reports/04_ijb.html").read_text(encoding="utf-8")
    assert all(f'id="{stem}"' in page for stem in ("04_identification", "04_identification_tpir_fpir",
                                                   "04_identification_cmc"))


def test_adding_a_seed_trains_only_that_seeds_jobs(smoke_project: Path, tmp_path: Path) -> None:
    extra = tmp_path / "seed.yaml"
    extra.write_text(yaml.safe_dump({"seeds": {"extra": [2049, 2050], "runs": ["x2softmax", "arcface"]}}))
    jobs = planned_jobs(smoke_project, *SMOKE, str(extra))
    assert wildcard_values(jobs, "train", "run") == {"x2softmax.seed2050", "arcface.seed2050"}
    assert wildcard_values(jobs, "evaluate", "run") == {"x2softmax.seed2050", "arcface.seed2050"}
    assert "synthesize" not in jobs and "toy" not in jobs and "uncertainty" in jobs


def test_notebook_edit_reruns_only_its_render_and_index(smoke_project: Path, tmp_path: Path) -> None:
    project = linked_copy(smoke_project, tmp_path / "project")  # the shared run stays as it is
    notebook = project / "notebooks/03_verification.ipynb"
    nb = json.loads(notebook.read_text())
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["An edit."]})
    replace_file(notebook, json.dumps(nb, indent=1))
    jobs = planned_jobs(project, *SMOKE)
    assert set(jobs) == {"notebook_03_verification", "render_notebook", "index", "all"}
    assert wildcard_values(jobs, "render_notebook", "nb") == {"03_verification"}


def test_loss_code_change_retrains_only_affected_losses(smoke_project: Path, tmp_path: Path) -> None:
    from x2softmax.losses import build_loss

    module = Path(type(build_loss("arcface")).__module__.replace(".", "/") + ".py")
    project = linked_copy(smoke_project, tmp_path / "project")  # the shared run stays as it is
    source = project / "src" / module
    affected = {run for run in RUNS
                if module.name in {Path(p).name for p in _loss_files(run)}}
    replace_file(source, source.read_text() + "\n# an edit\n")
    jobs = planned_jobs(project, *SMOKE)
    assert "arcface" in affected
    assert wildcard_values(jobs, "train", "run") == affected
    assert "synthesize" not in jobs


def _loss_files(run: str) -> list[str]:
    import inspect

    from x2softmax import config as xcfg
    from x2softmax.losses import build_loss

    config = xcfg.load_config("smoke")
    cls = type(build_loss(xcfg.loss_spec(config, run)["name"]))
    return [inspect.getsourcefile(c) for c in cls.__mro__ if c.__module__.startswith("x2softmax.losses")]


def test_new_loss_adds_only_its_jobs_and_reports(smoke_project: Path, tmp_path: Path) -> None:
    extra = tmp_path / "more.yaml"
    extra.write_text(yaml.safe_dump({"run_losses": [*SMOKE_CFG["run_losses"], "cosface"]}))
    jobs = planned_jobs(smoke_project, *SMOKE, str(extra))
    assert wildcard_values(jobs, "train", "run") == {"cosface"}
    assert wildcard_values(jobs, "evaluate", "run") == {"cosface"}
    assert "synthesize" not in jobs and "toy" not in jobs and "margins" not in jobs



def _page_text(project: Path, page: str) -> str:
    """A rendered page's HTML."""
    return (project / f"reports/{page}.html").read_text(encoding="utf-8")


def test_a_loss_added_as_one_module_is_trained_and_on_every_page_that_lists_losses(smoke_project: Path) -> None:
    """Acceptance (issue 37): the fixture's loss, added as its module and the preset's lines only (extend.py), is
    found by the registry, trained, evaluated, analysed and shown on every page that lists losses or runs."""
    summary = json.loads((smoke_project / f"results/train/{PROBE_LOSS}/summary.json").read_text())
    assert summary["steps"] > 0 and summary["spec"]["loss"]["name"] == PROBE_LOSS
    assert PROBE_LOSS in set(pd.read_csv(smoke_project / "results/analysis/margins/target_logits.csv")["loss"])
    for page in ("01_margins", "02_toy", "03_verification", "04_ijb", "05_training", "07_geometry"):
        assert PROBE_LOSS in _page_text(smoke_project, page), page
    claims = pd.read_csv(smoke_project / "reports/tables/claims.csv")
    assert claims.astype(str).apply(lambda col: col.str.contains(PROBE_LOSS)).any().any()
    assert PROBE_LOSS in _page_text(smoke_project, "index")


def test_a_benchmark_added_as_one_entry_is_synthesized_evaluated_and_compared(smoke_project: Path) -> None:
    """Acceptance (issue 37): the fixture's verification set, added as one vocabulary entry, a published number and
    the preset's line (extend.py), is generated, evaluated for every run and shown on page 03 beside its published
    number; the benchmarks the preset leaves out are still named as not run."""
    assert (smoke_project / f"results/data/val/{PROBE_BENCHMARK}.bin").is_file()
    metrics = pd.read_csv(smoke_project / "results/summary/metrics.csv")
    accuracy = metrics[(metrics["dataset"] == PROBE_BENCHMARK) & (metrics["metric"] == "accuracy_pct")
                       & (metrics["protocol"] == "10fold")]
    assert set(accuracy["run"]) == set(PROJECT_RUNS) and accuracy["value"].between(0, 100).all()
    page = _page_text(smoke_project, "03_verification")
    assert PROBE_BENCHMARK in page and PROBE_SOURCE in page
    compared = pd.read_csv(smoke_project / "reports/tables/03_reference_comparison.csv")
    row = compared[(compared["dataset"] == PROBE_BENCHMARK) & (compared["source"] == PROBE_SOURCE)]
    assert list(row["run"]) == ["arcface"] and list(row["method"]) == ["ArcFace"]  # looked up by its label
    not_run = next(line for line in page.splitlines() if "Not run in this configuration" in line)
    assert "vgg2_fp" in not_run and PROBE_BENCHMARK not in not_run


def test_killed_training_job_leaves_no_complete_output_and_resumes(tmp_path: Path) -> None:
    import signal
    import time

    from wfutil import copy_project

    root = copy_project(tmp_path / "project")
    longer = tmp_path / "longer.yaml"
    # 8 epochs of about 8 steps: killed at the first checkpoint (step 5), the resume trains the other ~60 steps
    longer.write_text("train: {epochs: 8, checkpoint_every: 5}\nrun_losses: [arcface]\nrun_ablations: []\n")
    target = "results/train/arcface/summary.json"
    args = [str(BIN / "snakemake"), "--cores", "1", target, *SMOKE, str(longer)]
    proc = subprocess.Popen(args, cwd=root, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    checkpoint = root / "results/checkpoints/arcface/last.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists(), "no checkpoint was written before the kill"
    assert not (root / target).exists()
    assert not (root / "results/train/arcface/backbone.pt").exists()

    snakemake(root, *SMOKE, str(longer), "--unlock")
    snakemake(root, target, *SMOKE, str(longer))
    log = (root / "logs/train/arcface.log").read_text()
    assert "resuming arcface at step" in log
    assert json.loads((root / target).read_text())["steps"] > 0


def test_readme_make_replicate_after_the_run_runs_no_job(smoke_project: Path, tmp_path: Path) -> None:
    """`make replicate` as README.md writes it (the smoke preset from the environment, this venv as .venv) on the
    finished smoke run (a linked copy: make writes its summary table and Snakemake's report): no job, then the path
    of the index page and the reproduction line."""
    project = linked_copy(smoke_project, tmp_path / "project")
    venv_standin(project)
    done = subprocess.run(readme_command("make replicate"), cwd=project, env={**env(), "PRESET": "smoke"},
                          capture_output=True, text=True, timeout=900)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-5000:]
    assert "Nothing to be done" in out and f"Report: {project}/reports/index.html" in out, out[-5000:]
    assert "Reproduction: " in done.stdout.splitlines()[-1], out[-5000:]
