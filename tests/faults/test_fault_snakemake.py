"""Snakemake's own failures, met by `make replicate` (x2softmax.snakerun) and by a direct `snakemake` call (the
workflow's own checks): a corrupt .snakemake/metadata record, a read-only output folder and an existing output that is
write-protected (real Snakemake runs; the folder a read-only bind mount, which fails even as root), a lock left by a
killed run and permission errors (Snakemake's messages, replayed). Each ends in one line saying what to do, not a
traceback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from wfutil import BIN, copy_project, env_without_venv, snakemake

from .conftest import last_line, run_capped

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


def _read_only(folder: str, keep: bool) -> Callable[[Path], list[str]]:
    """A project whose `folder` is a read-only bind mount (in a mount namespace of its own: it fails even as root),
    its outputs removed unless `keep` (kept outputs are refused by Snakemake itself as write-protected)."""
    def apply(project: Path) -> list[str]:
        if not keep:
            for path in (project / folder).iterdir():
                path.unlink()
        return ["unshare", "--map-root-user", "--mount", "sh", "-c",
                f'mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && exec "$@"', "sh"]
    return apply


def _corrupt(text: bytes) -> Callable[[Path], list[str]]:
    def apply(project: Path) -> list[str]:
        _corrupt_records(project, text)
        return []
    return apply


FAULTS: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "metadata record in Latin-1": (_corrupt(b'{"code": "caf\xe9"}'), "delete the folder .snakemake/metadata"),
    "metadata record of binary garbage": (_corrupt(b"\xff\xfe\x00\x81" * 8), "delete the folder .snakemake/metadata"),
    "metadata record of another shape": (_corrupt(b'[{"code": 1}]'), "delete the folder .snakemake/metadata"),
    "metadata record nested 100,000 deep": (_corrupt(b"[" * 100_000 + b"]" * 100_000),
                                            "delete the folder .snakemake/metadata"),
    "read-only output folder": (_read_only("results/analysis/margins", keep=False),
                                f"cannot write {TARGET} (permission denied or read-only file system)"),
}
CALLS = {"make replicate's wrapper": [sys.executable, "-m", "x2softmax.snakerun", str(BIN / "snakemake")],
         "a direct snakemake call": [str(BIN / "snakemake")]}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_snakemake_failures_end_in_one_line_saying_what_to_do(finished: Path, tmp_path: Path, fault: str,
                                                              call: str) -> None:
    """The workflow checks Snakemake's records and the output folders itself: a direct call ends in the same line
    as make's wrapper, and that line is the last."""
    project = tmp_path / "project"
    subprocess.run(["cp", "-a", str(finished), str(project)], check=True, timeout=120)
    apply, advice = FAULTS[fault]
    prefix = apply(project)
    done = run_capped([*prefix, *CALLS[call], "--cores", "1", TARGET, *SMOKE], cwd=project, timeout=300,
                      env=env_without_venv())
    assert done.returncode != 0
    line = last_line(done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.startswith("x2softmax snakemake: ")]
    assert lines == [line] and advice in line, done.stderr[-3000:]


@pytest.mark.parametrize("call", list(CALLS))
def test_an_existing_write_protected_output_is_one_line(finished: Path, tmp_path: Path, call: str) -> None:
    """Snakemake refuses a write-protected output it must replace while it builds the DAG, in a message listing the
    files: the workflow (on a direct call) and make's wrapper end it in one line naming the first, the last line."""
    project = tmp_path / "project"
    subprocess.run(["cp", "-a", str(finished), str(project)], check=True, timeout=120)
    prefix = _read_only("results/analysis/margins", keep=True)(project)
    done = run_capped([*prefix, *CALLS[call], "--cores", "1", "-F", TARGET, *SMOKE], cwd=project, timeout=300,
                      env=env_without_venv())
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("x2softmax snakemake: ")]
    assert lines == [last_line(done.stderr)] and lines[0].startswith(
        f"x2softmax snakemake: cannot write {TARGET} (permission denied or read-only file system)"), done.stderr[-3000:]


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
