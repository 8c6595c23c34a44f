"""What the xdist workers of one test run share: a folder, and outputs built once in it under a file lock."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock


def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this test run shares (the session's own base folder without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(done: Path, build: Callable[[], object]) -> None:
    """Run `build` unless `done` exists, under a file lock beside it: the first worker builds, the others wait."""
    with FileLock(done.with_suffix(".lock")):
        if not done.is_file():
            build()
            done.touch()
