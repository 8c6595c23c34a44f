"""A pytest plugin (`-p collected_marks`) that prints, after collection, one line per test: MARKS, its node id, a tab
and its markers' names. tests/test_tiers.py reads both tiers from one collection of the suite with it."""

from __future__ import annotations

import pytest

PREFIX = "MARKS "


def pytest_collection_finish(session: pytest.Session) -> None:
    """Print each collected test's node id and marker names (after every conftest.py marked it)."""
    for item in session.items:
        names = sorted({mark.name for mark in item.iter_markers()})
        print(f"{PREFIX}{item.nodeid}\t{' '.join(names)}")


def read_marks(text: str) -> dict[str, set[str]]:
    """Node id -> marker names, from the lines the plugin printed in `text`."""
    marks = {}
    for line in text.splitlines():
        if line.startswith(PREFIX):
            node, _, names = line.removeprefix(PREFIX).partition("\t")
            marks[node] = set(names.split())
    return marks
