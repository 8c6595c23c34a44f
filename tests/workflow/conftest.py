"""Fixtures for workflow tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from extend import add_probe_benchmark, add_probe_loss
from wfutil import SMOKE, copy_project, snakemake


@pytest.fixture(scope="session")
def smoke_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project on which the whole DAG ran once with the smoke preset, after a loss and a verification
    benchmark were added to it as docs/architecture.md describes (extend.py: PROBE_LOSS, PROBE_BENCHMARK)."""
    root = copy_project(tmp_path_factory.mktemp("smoke") / "project")
    preset = root / SMOKE[1]
    add_probe_loss(root, preset)
    add_probe_benchmark(root, preset)
    snakemake(root, *SMOKE)
    return root
