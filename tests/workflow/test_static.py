"""Workflow checks that need no run: lint, the paper preset's dry run, profiles, config validation."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from wfutil import (BIN, REPO, copy_project, env_without_venv, jobs_in_plan, outputs_in_plan, planned_jobs,
                    readme_command, snakemake, wildcard_values)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("static") / "project")


def test_lint_is_clean(project: Path) -> None:
    proc = snakemake(project, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_dry_run_after_the_config_check_imports_no_torch(project: Path) -> None:
    """What `make dry-run PRESET=...` does: `x2softmax config-check` records its pass of the hyperparameter check
    (.snakemake/x2softmax), then Snakemake's main process plans without importing torch (its imports timed by
    PYTHONPROFILEIMPORTTIME). A bad hyperparameter is still refused by Snakemake alone, in one line naming the key."""
    preset = "config/presets/smoke.yaml"
    environ = env_without_venv()
    check = subprocess.run([str(BIN / "x2softmax"), "config-check", "--preset", preset], cwd=project, env=environ,
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0 and (project / ".snakemake/x2softmax/hyperparameters.json").is_file(), check.stderr
    plan = subprocess.run([str(BIN / "snakemake"), "--cores", "2", "-n", "--configfile", preset], cwd=project,
                          env={**environ, "PYTHONPROFILEIMPORTTIME": "1"}, capture_output=True, text=True, timeout=300)
    imported = [line for line in plan.stderr.splitlines() if line.startswith("import time:")]
    assert plan.returncode == 0 and "train" in jobs_in_plan(plan.stdout + plan.stderr), plan.stderr[-3000:]
    assert imported and not [line for line in imported if re.search(r"\|\s+torch(\.|$)", line)]
    bad = project / "bad hyperparameter.yaml"
    bad.write_text((project / preset).read_text() + "\nlosses:\n  arcface: {s: -1.0}\n")
    refused = snakemake(project, "-n", "--configfile", str(bad), check=False)
    lines = [line for line in refused.stderr.splitlines() if "config key" in line]
    assert refused.returncode != 0 and len(lines) == 1 and "'losses.arcface'" in lines[0], refused.stderr[-3000:]


def test_paper_preset_plans_every_loss_on_gpus(dry_run: Callable[[str], str]) -> None:
    paper = yaml.safe_load((REPO / "config/presets/paper.yaml").read_text())
    jobs = jobs_in_plan(dry_run("paper"))
    runs = set(paper["run_losses"]) | set(paper["run_ablations"])
    seeded = {f"{run}.seed{seed}" for run in paper["seeds"]["runs"] for seed in paper["seeds"]["extra"]}
    assert len(seeded) == 6 and seeded.isdisjoint(runs)  # three seeds of x2softmax, arcface and cosface
    assert wildcard_values(jobs, "train", "run") == runs | seeded
    assert wildcard_values(jobs, "fetch_dataset", "dataset") == set(paper["data"]["required"])
    assert "preflight" in jobs and "synthesize" not in jobs


def test_mechanism_preset_plans_every_world_and_writes_only_its_own_files(dry_run: Callable[[str], str]) -> None:
    text = dry_run("mechanism")
    jobs = jobs_in_plan(text)
    losses, seeds = ("arcface", "cosface", "x2softmax"), (2049, 2050)
    runs = set(losses) | {f"{loss}.seed{seed}" for loss in losses for seed in seeds}
    worlds = {f"share{x}_tail{e}" for x in ("0.25", "0.5", "1") for e in (0, 2)}
    assert wildcard_values(jobs, "mechanism_train", "run") == runs
    assert wildcard_values(jobs, "mechanism_train", "world") == worlds
    assert len(jobs["mechanism_train"]) == len(jobs["mechanism_evaluate"]) == 54
    assert wildcard_values(jobs, "mechanism_probe", "world") == worlds
    assert {"mechanism_tables", "mechanism_run_health", "mechanism_notebook", "mechanism_render"} <= set(jobs)
    assert not {"train", "evaluate", "synthesize", "index", "render_notebook"} & set(jobs)  # nothing of the default
    outputs = outputs_in_plan(text)
    assert outputs and all(path.startswith(("results/mechanism/", "reports/mechanism/")) for path in outputs)
    assert "reports/mechanism/08_mechanism.html" in outputs


def test_the_readme_study_command_plans_the_study_and_keeps_its_report_beside_it(project: Path) -> None:
    command = readme_command("make replicate PRESET=mechanism")  # make's dry run (-n): the commands it would run
    proc = subprocess.run([command[0], "-n", *command[1:]], cwd=project, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--configfile config/presets/mechanism.yaml --rerun-incomplete" in proc.stdout
    assert "--report reports/mechanism/report.html" in proc.stdout and "reports/report.html" not in proc.stdout
    assert "reports/mechanism/08_mechanism.html" in proc.stdout and "report reproduction" not in proc.stdout


def test_an_empty_ijb_list_is_an_empty_value_not_a_missing_one(project: Path, tmp_path: Path) -> None:
    # `--ijb {params.ijb:q}` with no suite left `--ijb --aligned-root ...`: argparse took the next option as missing
    preset = tmp_path / "no_ijb.yaml"
    preset.write_text("evaluate:\n  ijb: []\n")
    text = snakemake(project, "results/eval/x2softmax/metrics.csv", "results/uncertainty/paired_comparisons.csv",
                     "-n", "-p", "--forceall", "--configfile", str(preset)).stdout
    assert " --ijb= --aligned-root " in text and " --ijb= --replicates " in text


def test_the_default_plans_no_study_job(project: Path) -> None:
    jobs = planned_jobs(project)
    assert not [rule for rule in jobs if rule.startswith("mechanism_")] and "index" in jobs


def test_paper_dry_run_prints_gpu_requests(dry_run: Callable[[str], str]) -> None:
    text = dry_run("paper")
    assert "gpu=1" in text
    for output in ("results/eval/x2softmax/ijb_IJBC_1N.json", "results/eval/x2softmax/ijb_IJBB_1N.npz",
                   "results/uncertainty/identification_intervals.csv"):  # IJB 1:N on every run and suite
        assert output in outputs_in_plan(text)


def test_invalid_config_value_names_the_key(project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: many\n")
    proc = snakemake(project, "-n", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    assert "train.epochs" in proc.stdout + proc.stderr


@pytest.mark.parametrize("profile", ["local", "gpu", "ci", "slurm", "kubernetes"])
def test_profiles_parse(project: Path, profile: str) -> None:
    proc = snakemake(project, "--workflow-profile", f"profiles/{profile}", "-n", "--configfile",
                     "config/presets/smoke.yaml", check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
