"""A finished project copied or moved to another folder plans no job: rules' inputs are relative to the workflow,
so Snakemake's records (input paths, params, shell commands) do not change with the project's location.

The finished project is the test run's smoke DAG (`smoke_project`, tests/support/smoke_dag.py: every rule, so every
kind of package-code input: a rule's own module, code(), and a loss's modules, loss_sources(), the added probe loss
and benchmark included), copied or moved whole; it is shared, so the move moves a `linked_copy` of it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wfutil import SMOKE, linked_copy, snakemake


def _relocate(project: Path, how: str, tmp: Path) -> Path:
    if how == "cp -a":
        dest = tmp / "copy"
        subprocess.run(["cp", "-a", str(project), str(dest)], check=True, timeout=120)
    elif how == "mv":
        dest = tmp / "moved"
        shutil.move(linked_copy(project, tmp / "project"), dest)  # the shared project itself stays where it is
    else:  # a deeper folder, and a name with a space
        dest = tmp / "deeper" / "a b" / "project"
        dest.parent.mkdir(parents=True)
        subprocess.run(["cp", "-a", str(project), str(dest)], check=True, timeout=120)
    return dest


@pytest.mark.parametrize("how", ["cp -a", "mv", "cp -a deeper"])
def test_a_finished_project_copied_or_moved_plans_nothing(smoke_project: Path, tmp_path: Path, how: str) -> None:
    moved = _relocate(smoke_project, how, tmp_path)
    plan = snakemake(moved, "-n", *SMOKE, timeout=300)
    assert "Nothing to be done" in plan.stdout + plan.stderr, (plan.stdout + plan.stderr)[-3000:]
