"""The test tiers: the rule of tests/support/tiers.py on small examples, its run-time guard, and the tiers of this
suite as pytest collects them (no test that runs Snakemake, DVC, papermill, Chromium or Slurm in the fast tier)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from collected_marks import read_marks
from tiers import ProcessGuard, StartedProcess, classify

REPO = Path(__file__).resolve().parents[1]


def _runs_a_tool() -> None:
    subprocess.run(["snakemake", "--version"], check=False)


def _starts_python() -> None:
    subprocess.run([sys.executable, "-c", "pass"], check=False)


def _through_a_helper() -> None:
    _runs_a_tool()


class _Project:
    def build(self) -> None:
        _starts_python()


def _pure() -> int:
    return sum(range(3))


def _with_a_method() -> None:
    _Project().build()


def _fixture_that_runs_a_tool() -> None:
    _through_a_helper()


def test_the_rule_reads_the_test_its_helpers_their_helpers_and_classes() -> None:
    assert classify(_pure) == set()
    assert classify(_starts_python) == {"slow"}
    assert classify(_runs_a_tool) == {"slow", "e2e"}
    assert classify(_through_a_helper) == {"slow", "e2e"}
    assert classify(_with_a_method) == {"slow"}


def test_the_rule_reads_the_fixtures_a_test_requests() -> None:
    assert classify(_pure, [_pure]) == set()
    assert classify(_pure, [_fixture_that_runs_a_tool]) == {"slow", "e2e"}


def test_the_rule_does_not_read_package_code() -> None:
    from x2softmax import snakerun  # runs Snakemake, but a test reaching it by the package is marked by hand

    def calls_the_package() -> None:
        snakerun.main([])

    assert classify(calls_the_package) == set()


def test_the_guard_refuses_a_process_and_names_it() -> None:
    guard = ProcessGuard()
    with guard, pytest.raises(StartedProcess, match="snakemake"):
        subprocess.run(["snakemake", "--version"], check=False)
    assert len(guard.started) == 1 and "snakemake" in guard.started[0]
    assert subprocess.run([sys.executable, "-c", "pass"]).returncode == 0  # restored on exit


def _marks() -> dict[str, set[str]]:
    """Node id -> marker names of every test pytest collects from tests/ (a separate pytest, as `make test-fast`
    runs it, after tests/conftest.py marked each test; the plugin tests/support/collected_marks.py prints them)."""
    path = os.pathsep.join(filter(None, [str(REPO / "tests/support"), os.environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist",
                           "-p", "collected_marks", "tests"], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": path})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return read_marks(done.stdout)


def test_the_fast_tier_holds_the_unit_tests_and_no_workflow_tool() -> None:
    marks = _marks()  # `-m "not slow"` selects the tests without `slow`, `-m e2e` those with `e2e`: one collection
    fast = [node for node, names in marks.items() if "slow" not in names]
    e2e = [node for node, names in marks.items() if "e2e" in names]
    assert fast and e2e and not set(fast) & set(e2e)
    files = {node.split("::")[0] for node in fast}
    for unit in ("tests/losses/", "tests/models/", "tests/analysis/", "tests/evaluate/", "tests/data/",
                 "tests/report/test_report_tables.py", "tests/test_layers.py", "tests/test_config.py"):
        assert any(name.startswith(unit) for name in files), unit
    for tool in ("tests/workflow/test_workflow.py", "tests/workflow/test_slurm.py",  # every test: a tool
                 "tests/workflow/test_dvc_real_data.py", "tests/workflow/test_lease_env.py",
                 "tests/report/test_report_browser.py",
                 # tests that run a tool, in files that also hold unit tests
                 "tests/report/test_report_notebooks.py::test_notebook_runs_and_writes_its_outputs",
                 "tests/gpucheck/test_device_simulation.py::test_the_device_command_runs_the_real_smoke_workflow",
                 "tests/faults/test_fault_snakemake.py::test_snakemake_failures_end_in_one_line_saying_what_to_do"):
        assert not any(node.startswith(tool) for node in fast), tool
        assert any(node.startswith(tool) for node in e2e), tool
