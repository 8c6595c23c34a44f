"""Fixtures for workflow tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared import built_once, shared_dir
from wfutil import SMOKE, copy_project, snakemake


@pytest.fixture(scope="session")
def smoke_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project on which the whole DAG ran once with the smoke preset: the one smoke DAG of a test run,
    shared by every test and every xdist worker (the first builds it under a file lock, the others wait for it).

    A test reads it, or plans on it with an extra config file (`planned_jobs`); one that must change a file restores
    it before it returns (test_workflow.py's `_edit_and_restore`); one that runs jobs works on a copy of its own.
    """
    root = shared_dir(tmp_path_factory) / "smoke" / "project"

    def build() -> None:
        shutil.rmtree(root, ignore_errors=True)  # what a failed build on another worker left
        snakemake(copy_project(root), *SMOKE)

    built_once(root.parent / "smoke.done", build)
    return root
