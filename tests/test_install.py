"""The install recipes: the venv's pip is brought to the lock's version first, then one pip run constrained by the
lock installs the stack (docs/timings.md: pip 23.2.1 takes about twice the CPU-seconds for the same set)."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


@pytest.mark.parametrize("stamp", [".venv/.installed", ".venv/.installed-test"])
def test_the_install_brings_pip_to_the_lock_before_installing(tmp_path: Path, stamp: str) -> None:
    for name in ("Makefile", "pyproject.toml", "requirements.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = {**os.environ, "PYTHON": sys.executable}
    shown = subprocess.run(["make", "-n", stamp], cwd=tmp_path, env=env, check=True, capture_output=True, text=True,
                           timeout=60).stdout.splitlines()
    pip_first = [i for i, line in enumerate(shown) if line.endswith("-m pip install -q pip -c requirements.lock")]
    install = [i for i, line in enumerate(shown) if "--no-compile torch==2.13.0 -c requirements.lock -e " in line]
    assert len(pip_first) == 1 and len(install) == 1 and pip_first[0] < install[0], shown


def test_the_test_venv_runs_the_locked_pip() -> None:
    assert importlib.metadata.version("pip") == _pins()["pip"]
