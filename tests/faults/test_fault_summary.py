"""docs/robustness.md lists the fault classes of this suite, one module each, and states no case count (pytest
counts the cases and conftest prints the summary: a number in a document would be a fixture to keep in step)."""

from __future__ import annotations

import re
from pathlib import Path

FAULTS_DIR = Path(__file__).parent
DOC = FAULTS_DIR.parents[1] / "docs/robustness.md"


def test_docs_list_every_fault_class_and_no_case_count() -> None:
    text = DOC.read_text()
    listed = set(re.findall(r"`(test_fault_\w+\.py)`", text)) - {"test_fault_summary.py"}
    modules = {path.name for path in FAULTS_DIR.glob("test_fault_*.py")} - {"test_fault_summary.py"}
    assert listed == modules, f"docs/robustness.md lists {sorted(listed - modules)} but not {sorted(modules - listed)}"
    assert "fault injection: N cases tried" in text, "docs/robustness.md lost the fault-injection summary line"
    assert not re.search(r"fault injection: \d+ cases", text), "docs/robustness.md states a case count"
