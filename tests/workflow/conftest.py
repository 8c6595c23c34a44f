"""Fixtures for workflow tests: the shared smoke DAG (tests/support/smoke_dag.py) and the presets' shared dry runs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from shared import built_once, shared_dir
from smoke_dag import smoke_project  # noqa: F401 (the session fixture; tests/faults reads it too)
from wfutil import copy_project, snakemake


@pytest.fixture(scope="session")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """plan(preset) -> the output of `snakemake -n -p --configfile config/presets/PRESET.yaml` in a copy of the
    project: each preset's dry run made once per test run and shared by every test and xdist worker that reads it
    (test_static.py's plans, test_shell.py's shell commands), written to a file under a file lock."""
    root = shared_dir(tmp_path_factory) / "dry_runs"
    project = root / "project"

    def copy() -> None:
        shutil.rmtree(project, ignore_errors=True)  # what a failed copy on another worker left
        copy_project(project)

    def plan(preset: str) -> str:
        built_once(root / "project.done", copy)
        out = root / f"{preset}.txt"

        def build() -> None:
            proc = snakemake(project, "-n", "-p", "--configfile", f"config/presets/{preset}.yaml")
            out.with_suffix(".part").write_text(proc.stdout + proc.stderr)
            os.replace(out.with_suffix(".part"), out)

        built_once(out, build)
        return out.read_text()

    root.mkdir(parents=True, exist_ok=True)
    return plan
