"""Snakemake's own failures met by `make replicate` (x2softmax.snakerun): a corrupt .snakemake/metadata record (a
real Snakemake run), a lock left by a killed run and unwritable outputs (Snakemake's messages, replayed: as root
a read-only folder is still writable). Each ends in one line saying what to do, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from wfutil import BIN, copy_project, env_without_venv, snakemake

from .conftest import run_capped

TARGET = "results/analysis/margins/target_logits.csv"
SMOKE = ["--configfile", "config/presets/smoke.yaml"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project where the smallest job has run (so Snakemake holds metadata records)."""
    project = copy_project(tmp_path_factory.mktemp("finished") / "project")
    snakemake(project, TARGET, *SMOKE, timeout=600)
    return project


def _corrupt_records(project: Path, text: bytes) -> None:
    records = [p for p in (project / ".snakemake/metadata").iterdir() if p.is_file()]
    assert records
    for record in records:
        record.write_bytes(text)


FAULTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "metadata record in Latin-1": (lambda p: _corrupt_records(p, b'{"code": "caf\xe9"}'), "delete the folder"),
    "metadata record of binary garbage": (lambda p: _corrupt_records(p, b"\xff\xfe\x00\x81" * 8), "delete the folder"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_snakemake_failures_end_in_one_line_saying_what_to_do(finished: Path, tmp_path: Path, fault: str) -> None:
    project = tmp_path / "project"
    subprocess.run(["cp", "-a", str(finished), str(project)], check=True, timeout=120)
    apply, advice = FAULTS[fault]
    apply(project)
    done = run_capped([sys.executable, "-m", "x2softmax.snakerun", str(BIN / "snakemake"), "--cores", "1", "-F",
                       TARGET, *SMOKE], cwd=project, timeout=300, env=env_without_venv())
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("x2softmax snakemake: ")]
    assert len(lines) == 1 and advice in lines[0], done.stderr[-3000:]


KNOWN = {
    "a lock left by a killed run": ("LockException:\nError: Directory cannot be locked. Please make sure that no other "
                                    "Snakemake process is trying to create the same files", "--unlock"),
    "read-only reports/": ("PermissionError: [Errno 13] Permission denied: 'reports/index.html'",
                           "cannot write reports/index.html"),
    "read-only file system": ("OSError: [Errno 30] Read-only file system: 'results/x.csv'", "cannot write results/x.csv"),
}


@pytest.mark.parametrize("case", list(KNOWN))
def test_known_snakemake_tracebacks_become_one_line(tmp_path: Path, case: str) -> None:
    error, advice = KNOWN[case]
    fake = tmp_path / "snakemake"
    fake.write_text(f"#!/bin/sh\necho 'Building DAG of jobs...' >&2\nprintf '%s\\n' 'Traceback (most recent call "
                    f"last):' '  File \"x.py\", line 1' \"{error}\" >&2\nexit 1\n")
    fake.chmod(0o755)
    done = run_capped([sys.executable, "-m", "x2softmax.snakerun", str(fake)], timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "Building DAG" in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("x2softmax snakemake: ")]
    assert len(lines) == 1 and advice in lines[0], done.stderr
