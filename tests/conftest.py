"""Shared test settings (one torch thread, deterministic seeds) and a local HTTP server fixture."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Callable, Iterator

import pytest

from tiers import ProcessGuard, classify

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

# The longest test files (minutes each: a Slurm cluster, a DVC fresh clone, the device simulation's smoke workflow,
# the smoke DAG and its reruns) are handed out first, so that under `-n 2 --dist loadfile` the short files fill the
# other worker meanwhile instead of one long file running alone at the end. `make test` passes
# --no-loadscope-reorder: by default xdist would reorder the files by their number of tests, which puts these
# one-test files last. xdist gives each worker one file and, as soon as that file has at most two tests left, the
# next one: worker 1 gets the 1st and 3rd file, worker 2 the 2nd and 4th, so the two longest (Slurm, mostly
# waiting for its jobs, and the DVC story) start at once on different workers (docs/timings.md: the plan).
LONGEST_FIRST = ("workflow/test_slurm.py", "workflow/test_dvc_real_data.py", "gpucheck/test_device_simulation.py",
                 "workflow/test_workflow.py", "gpucheck/test_device_oldest.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier (tests/support/tiers.py), then move the items of LONGEST_FIRST to the front, in
    that order (the rest keep their collection order)."""
    for item in items:
        for name in sorted(tier_markers(item)):
            item.add_marker(name)

    def rank(item: pytest.Item) -> int:
        path = item.path.as_posix()
        return next((i for i, name in enumerate(LONGEST_FIRST) if path.endswith("tests/" + name)), len(LONGEST_FIRST))

    items.sort(key=rank)


def tier_markers(item: pytest.Item) -> set[str]:
    """The tier markers the rule gives `item` (its test function and its fixtures' functions; `slow` for one marked
    `e2e` or `browser` by hand), less those it has."""
    if not isinstance(item, pytest.Function):
        return set()
    fixtures = [fixturedef.func for defs in item._fixtureinfo.name2fixturedefs.values() for fixturedef in defs]
    has = {mark.name for mark in item.iter_markers()}
    markers = classify(getattr(item.obj, "__func__", item.obj), fixtures)
    if has & {"e2e", "browser"}:  # marked by hand: a tool that starts processes from package code
        markers.add("slow")
    return markers - has


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> object:
    """Set-up of a test outside the slow tier runs under the process guard (see pytest_runtest_call)."""
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    """A test without the `slow` mark that starts a process fails, naming the command: the tier rule missed it, so
    the fast tier would not be what it says (mark it `@pytest.mark.slow`, or teach tests/support/tiers.py)."""
    return (yield from _guarded(item))


def _guarded(item: pytest.Item):  # a hook wrapper's generator body, shared by set-up and call
    if item.get_closest_marker("slow") is not None:
        return (yield)
    guard = ProcessGuard()
    with guard:
        result = yield
    if guard.started:
        pytest.fail(f"{item.nodeid} has no slow mark but started a process: {guard.started[0]} "
                    "(mark it @pytest.mark.slow or extend tests/support/tiers.py)", pytrace=False)
    return result


SKIPPED: list[str] = []  # "nodeid: reason" of every test that skipped itself in this session


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Note a test that skipped itself (xfails aside); under xdist the controller sees its workers' reports."""
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        SKIPPED.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test fails the session: CI must not pass on a test that did not run (a missing browser, extra...)."""
    if SKIPPED and exitstatus == pytest.ExitCode.OK:
        print(f"\nx2softmax tests: {len(SKIPPED)} skipped test(s) fail the session:\n  " + "\n  ".join(SKIPPED))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def http_server() -> Iterator[Callable[[type[http.server.BaseHTTPRequestHandler]], str]]:
    """serve(handler class) -> 'http://127.0.0.1:PORT': a threaded server on 127.0.0.1, shut down afterwards."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> str:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield serve
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()
