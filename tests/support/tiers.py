"""The test tiers by rule: a test that starts a process is `slow`; one that drives Snakemake, DVC, papermill,
Chromium or Slurm is also `e2e`. `make test-fast` runs the rest (`-m "not slow"`); `make test` runs everything.

The rule reads code, not file names, so test files added later are classified too: a test's own function, the
fixtures it requests (their whole closure) and every function or class of the test tree those reach by name,
transitively, are searched for what starts a process or names one of those tools. Package code is not read: a test
that reaches a process only through the package is caught at run time instead (`ProcessGuard`, tests/conftest.py)
and carries an explicit `@pytest.mark.slow`.
"""

from __future__ import annotations

import functools
import inspect
import re
import types
from collections.abc import Callable, Iterable
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# what starts a process from Python (a library's own helpers that do it are named by the test code that calls them)
PROCESS = re.compile(r"\bsubprocess\b|\bPopen\b|\bos\.(?:system|fork|exec\w*|spawn\w*|posix_spawn\w*|popen)\b"
                     r"|\bmultiprocessing\b|\bmp\.spawn\b|\bpexpect\b")
TOOLS = re.compile(r"\b(?:snakemake|dvc|papermill|chromium|sbatch|srun|slurm\w*)\b", re.IGNORECASE)


@functools.cache
def _source(obj: object) -> str:
    """The source of a function or class ('' where there is none, e.g. a builtin)."""
    try:
        return inspect.getsource(obj)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return ""


def _in_tests(obj: object) -> bool:
    """Whether `obj` is defined in a file of the test tree (helpers, fixtures, tests; not the package)."""
    try:
        path = inspect.getsourcefile(obj)  # type: ignore[arg-type]
    except TypeError:
        return False
    return path is not None and Path(path).resolve().is_relative_to(TESTS)


def _names(code: types.CodeType) -> set[str]:
    """Every global or attribute name a code object and its nested functions use."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


@functools.cache
def _reached_text(obj: object) -> str:
    """The source of `obj` and of every function or class of the test tree it reaches by a global name, transitively
    (cached: a fixture or helper is read once per session)."""
    seen: dict[int, object] = {}
    todo = [obj] if _in_tests(obj) else []
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen[id(current)] = current
        funcs = [current] if inspect.isfunction(current) else [
            f for f in vars(current).values() if inspect.isfunction(f)]
        for func in funcs:
            module = inspect.getmodule(func)
            scope = {**vars(module), **inspect.getclosurevars(func).nonlocals} if module else {}
            for name in _names(func.__code__):
                target = scope.get(name)
                if (inspect.isfunction(target) or inspect.isclass(target)) and _in_tests(target):
                    todo.append(target)
    return "\n".join(_source(current) for current in seen.values())


def classify(test: Callable[..., object], fixtures: Iterable[Callable[..., object]] = ()) -> set[str]:
    """The tier markers ({'slow'}, {'slow', 'e2e'} or set()) of a test function given its fixtures' functions."""
    text = "\n".join(_reached_text(obj) for obj in [test, *fixtures])
    if not PROCESS.search(text):
        return set()
    return {"slow", "e2e"} if TOOLS.search(text) else {"slow"}


class ProcessGuard:
    """While entered, starting a process raises StartedProcess and is noted in `started` (a fast test must not)."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self._saved: list[tuple[object, str, object]] = []

    def _refuse(self, what: str) -> Callable[..., object]:
        def refuse(*args: object, **kwargs: object) -> object:
            command = next((a for a in args if isinstance(a, (str, bytes, list, tuple))), "")
            self.started.append(f"{what}({command!r})"[:300])
            raise StartedProcess(f"a test without the slow mark started a process: {self.started[-1]}")
        return refuse

    def __enter__(self) -> ProcessGuard:
        import _posixsubprocess
        import os
        import subprocess

        targets = [(subprocess.Popen, "_execute_child", "subprocess"), (_posixsubprocess, "fork_exec", "fork_exec"),
                   (os, "fork", "os.fork"), (os, "system", "os.system"), (os, "posix_spawn", "os.posix_spawn"),
                   (os, "posix_spawnp", "os.posix_spawnp")]
        for owner, name, what in targets:
            if hasattr(owner, name):
                self._saved.append((owner, name, getattr(owner, name)))
                setattr(owner, name, self._refuse(what))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()


class StartedProcess(AssertionError):
    """A test outside the slow tier started a process (see ProcessGuard)."""
