"""Fixtures for workflow tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from wfutil import SMOKE, copy_project, snakemake


@pytest.fixture(scope="session")
def smoke_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project on which the whole DAG ran once with the smoke preset."""
    root = copy_project(tmp_path_factory.mktemp("smoke") / "project")
    snakemake(root, *SMOKE)
    return root
