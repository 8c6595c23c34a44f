"""A finished project copied or moved to another folder plans no job: rules' inputs are relative to the workflow,
so Snakemake's records (input paths, params, shell commands) do not change with the project's location."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wfutil import copy_project, snakemake

# The smallest DAG that uses every kind of package-code input: a rule's own module (code()) and a loss's modules
# (loss_sources()).
TARGETS = ["results/analysis/margins/target_logits.csv", "results/toy/arcface_2d.npz"]
SMOKE = ["--configfile", "config/presets/smoke.yaml"]


def _relocate(project: Path, how: str, tmp: Path) -> Path:
    if how == "cp -a":
        dest = tmp / "copy"
        subprocess.run(["cp", "-a", str(project), str(dest)], check=True, timeout=120)
    elif how == "mv":
        dest = tmp / "moved"
        shutil.move(project, dest)
    else:  # a deeper folder, and a name with a space
        dest = tmp / "deeper" / "a b" / "project"
        dest.parent.mkdir(parents=True)
        subprocess.run(["cp", "-a", str(project), str(dest)], check=True, timeout=120)
    return dest


@pytest.mark.parametrize("how", ["cp -a", "mv", "cp -a deeper"])
def test_a_finished_project_copied_or_moved_plans_nothing(tmp_path: Path, how: str) -> None:
    project = copy_project(tmp_path / "project")
    snakemake(project, *TARGETS, *SMOKE, timeout=600)
    moved = _relocate(project, how, tmp_path)
    plan = snakemake(moved, "-n", *TARGETS, *SMOKE, timeout=300)
    assert "Nothing to be done" in plan.stdout + plan.stderr, (plan.stdout + plan.stderr)[-3000:]
