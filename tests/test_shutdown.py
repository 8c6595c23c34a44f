"""x2softmax.shutdown: the package's processes end without the interpreter's final garbage collections, and every
exit handler registered before still runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

# A reference cycle whose finaliser speaks: only the final collection at exit can free it.
CYCLE = """
import sys
class Speaks:
    def __del__(self):
        sys.stderr.write("collected\\n")
cycle = Speaks(); cycle.me = cycle
"""


def _stderr(code: str) -> str:
    """The stderr of a fresh interpreter running `code` (exit status 0 required)."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_without_it_the_final_collection_frees_the_cycle() -> None:
    assert "collected" in _stderr(CYCLE)  # the control: what skip_final_collection removes


def test_the_cycle_is_left_to_the_os_and_earlier_exit_handlers_still_run() -> None:
    code = ("import atexit, sys\natexit.register(lambda: sys.stderr.write('earlier handler\\n'))\n"
            "from x2softmax.shutdown import skip_final_collection\nskip_final_collection()\nskip_final_collection()\n"
            + CYCLE)
    assert _stderr(code).splitlines() == ["earlier handler"]


@pytest.mark.parametrize("entry", ["x2softmax.cli", "x2softmax.train.worker"])
def test_the_package_entry_points_end_without_it(entry: str) -> None:
    code = CYCLE + f"import {entry} as entry\ntry:\n    entry.main(['--help'])\nexcept SystemExit:\n    pass\n"
    assert "collected" not in _stderr(code)
