"""docs/robustness.md shows the summary line this suite prints, without a count: the count changes with every case
added, so the page states none and no case needs a doc edit."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _printed_summary() -> str:
    """The f-string tests/faults/conftest.py prints after a run, each value as {}."""
    tree = ast.parse((Path(__file__).parent / "conftest.py").read_text(encoding="utf-8"))
    summary = next(node for node in ast.walk(tree)
                   if isinstance(node, ast.FunctionDef) and node.name == "pytest_terminal_summary")
    text = next(node for node in ast.walk(summary) if isinstance(node, ast.JoinedStr))
    return "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in text.values)


def test_docs_show_the_summary_line_without_a_count() -> None:
    stated = re.search(r"`(fault injection: [^`]*)`", (REPO / "docs/robustness.md").read_text(encoding="utf-8"))
    assert stated, "docs/robustness.md lost the fault-injection summary line"
    assert not re.search(r"\d", stated.group(1)), f"docs/robustness.md states a count: {stated.group(1)}"
    assert re.sub(r"\b[A-Z]\b", "{}", stated.group(1)) == _printed_summary()
