"""Fault-injection suite: shared helpers, and the summary line (cases tried, handled) printed after a run."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from smoke_dag import smoke_project  # noqa: F401 (the test run's smoke DAG: test_fault_relocation.py)
from wfutil import MAKE_VARIABLES

from x2softmax import cli

FAULTS_DIR = Path(__file__).parent


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run `x2softmax ARGV` in this process; (exit code, stderr). A traceback would escape as an exception.

    Only for cases that patch the package in this process (a poisoned training step) and read no hostile input:
    every hostile-input case runs capped (cli_capped, python_capped)."""
    try:
        cli.main(argv)
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
    return code, capsys.readouterr().err


MEMORY_CAP = 2 << 30  # address space of one hostile-input case (importing torch needs ~1.2 GiB of it)
SRC = Path(__file__).resolve().parents[2] / "src"


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_capped(argv: list[str], cwd: Path | None = None, timeout: float = 120,
               env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command under a 2 GiB address-space cap and a time limit (a hang or a huge allocation fails the case
    instead of stalling CI); this checkout's package first on PYTHONPATH; without make's variables (under `make test`
    a make the case starts would print `make[1]:` where a user's prints `make:`)."""
    user = {key: value for key, value in os.environ.items() if key not in MAKE_VARIABLES}
    environ = {**user, **(env or {}), "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get(
        "PYTHONPATH")]))}
    return subprocess.run(argv, cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=_cap_memory, input=stdin)


def cli_capped(argv: list[str], cwd: Path | None = None, timeout: float = 120, setup: str = "") -> tuple[int, str]:
    """`x2softmax ARGV` in a capped subprocess: (exit code, stderr); `setup`, Python run first (e.g. a stub).

    ARGV travels as JSON on stdin (an argument may be longer than the kernel takes on a command line)."""
    code = f"{setup}\nimport json, sys\nfrom x2softmax.cli import main\nmain(json.load(sys.stdin))"
    done = run_capped([sys.executable, "-c", code], cwd=cwd, timeout=timeout, stdin=json.dumps(list(argv)))
    return done.returncode, done.stderr


def python_capped(code: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -c CODE` in a capped subprocess (a reader called on hostile input, outside the test's process)."""
    return run_capped([sys.executable, "-c", code], cwd=cwd, timeout=timeout)


def one_line_error(err: str) -> str:
    """The single error line of a failed command (asserting there is no traceback and exactly one such line)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("x2softmax ")]
    assert len(lines) == 1, err
    return lines[0]


def last_line(err: str) -> str:
    """The last line of a failed command's stderr (asserting there is no traceback): where a user reads what is
    wrong, so it must name the file given (and the member or key)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    return lines[-1]


def can_mount_tmpfs(where: Path) -> bool:
    """Whether this process may mount a tmpfs (root in a container that allows it)."""
    where.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True)
    except OSError:  # no mount command
        return False
    if done.returncode != 0:
        return False
    subprocess.run(["umount", str(where)], check=True)
    return True


_OUTCOMES: dict[str, int] = {"passed": 0, "failed": 0, "skipped": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count the fault cases by outcome (one per parametrised case)."""
    path = report.nodeid.split("::")[0]
    if FAULTS_DIR.name not in path or "test_fault_summary" in path:  # the docs check is no fault case
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _OUTCOMES[report.outcome] = _OUTCOMES.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """`fault injection: N cases tried, H handled, S skipped (reason shown above)`."""
    tried = sum(_OUTCOMES.values())
    if tried:
        terminalreporter.write_line(
            f"fault injection: {tried} cases tried, {_OUTCOMES['passed']} handled, {_OUTCOMES['skipped']} skipped, "
            f"{_OUTCOMES['failed']} not handled"
        )
