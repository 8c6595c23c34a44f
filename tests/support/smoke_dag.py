"""The smoke DAG of a test run, a session fixture shared by the workflow tests and the fault cases that read a
finished project (each conftest.py imports it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from extend import add_probe_benchmark, add_probe_loss
from shared import built_once, shared_dir
from wfutil import SMOKE, copy_project, snakemake


@pytest.fixture(scope="session")
def smoke_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project on which the whole DAG ran once with the smoke preset, after a loss and a verification
    benchmark were added to it as docs/architecture.md describes (extend.py: PROBE_LOSS, PROBE_BENCHMARK): the one
    smoke DAG of a test run, shared by every test and every xdist worker (the first builds it under a file lock, the
    others wait for it).

    Tests only read it, or plan on it with an extra config file (`planned_jobs`): another worker may be reading it
    at the same time. One that must change a file edits a `linked_copy` of it (wfutil.py; `replace_file`).
    """
    root = shared_dir(tmp_path_factory) / "smoke" / "project"

    def build() -> None:
        shutil.rmtree(root, ignore_errors=True)  # what a failed build on another worker left
        copy_project(root)
        preset = root / SMOKE[1]
        add_probe_loss(root, preset)
        add_probe_benchmark(root, preset)
        snakemake(root, *SMOKE)

    built_once(root.parent / "smoke.done", build)
    return root
