"""CPU-seconds of one command by phase, for bench/replicate_cpu.py: start-up (the interpreter and every import
statement's CPU), data (blocks marked `with reading():`, imports excluded) and compute (the rest, worker processes
included). Where X2S_CPU_PHASES is set (the Snakefile sets it for its jobs), the command's last stderr line is
`x2softmax: cpu-seconds: start-up S data D compute C`."""

from __future__ import annotations

import builtins
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

CPU_PHASES_ENV = "X2S_CPU_PHASES"
PREFIX = "x2softmax: cpu-seconds:"
_seconds = {"imports": 0.0, "data": 0.0}
_depth = [0]  # nesting of import statements: only the outermost one is timed
_original_import = builtins.__import__


def _cpu() -> float:
    """CPU-seconds of this process and of its waited-for children (worker processes)."""
    times = os.times()
    return time.process_time() + times.children_user + times.children_system


def _timed_import(*args: object, **kwargs: object) -> object:
    if _depth[0]:
        return _original_import(*args, **kwargs)
    _depth[0] += 1
    started = time.process_time()
    try:
        return _original_import(*args, **kwargs)
    finally:
        _seconds["imports"] += time.process_time() - started
        _depth[0] -= 1


def start() -> bool:
    """Time the import statements from now on where X2S_CPU_PHASES is set; whether it is."""
    if not os.environ.get(CPU_PHASES_ENV):
        return False
    _seconds["at_start"] = time.process_time()  # the interpreter and the imports before this call
    builtins.__import__ = _timed_import
    return True


@contextmanager
def reading() -> Iterator[None]:
    """Count the block's CPU-seconds (less its imports) as the data phase: reading and decoding datasets."""
    started, imports = time.process_time(), _seconds["imports"]
    try:
        yield
    finally:
        _seconds["data"] += time.process_time() - started - (_seconds["imports"] - imports)


def summary() -> str:
    """The `x2softmax: cpu-seconds: ...` line of this process so far."""
    startup = _seconds.get("at_start", 0.0) + _seconds["imports"]
    compute = _cpu() - startup - _seconds["data"]
    return f"{PREFIX} start-up {startup:.2f} data {_seconds['data']:.2f} compute {compute:.2f}"


LINE_RE = re.compile(rf"^{re.escape(PREFIX)} start-up (\S+) data (\S+) compute (\S+)$", re.MULTILINE)


def parse(log: str) -> dict[str, float] | None:
    """The phases of a job's log text (its last summary line), or None where it has none."""
    found = LINE_RE.findall(log)
    return dict(zip(("start-up", "data", "compute"), map(float, found[-1]))) if found else None


def finish() -> None:
    """Print the summary line to stderr (where start() timed this process) and stop timing imports."""
    if builtins.__import__ is _timed_import:
        builtins.__import__ = _original_import
        print(summary(), file=sys.stderr, flush=True)
