"""docs/robustness.md states the size of this suite; it must match what pytest collects."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_docs_state_how_many_fault_cases_there_are() -> None:
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist",
                             str(Path(__file__).parent)], cwd=REPO, capture_output=True, text=True, timeout=300)
    cases = [line for line in listed.stdout.splitlines() if "::" in line and "test_fault_summary" not in line]
    stated = re.search(r"fault injection: (\d+) cases tried, (\d+) handled", (REPO / "docs/robustness.md").read_text())
    assert stated, "docs/robustness.md lost the fault-injection summary line"
    assert int(stated.group(1)) == len(cases), f"docs/robustness.md says {stated.group(1)} cases, pytest collects {len(cases)}"
