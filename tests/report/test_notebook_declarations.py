"""Each notebook's NOTEBOOKS entry is its one declaration: the parameters the workflow passes (and a notebook opened
by hand resolves), every package function it calls, and the functions its footer names as computing its numbers."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import nbformat
import pytest

from x2softmax import config as xcfg
from x2softmax.report.artifacts import COMMON_CALLS, NOTEBOOKS, UPSTREAM
from x2softmax.report.params import notebook_parameters

ROOT = Path(__file__).resolve().parents[2]


def _code(nb: str) -> ast.Module:
    """The notebook's code cells as one module."""
    book = nbformat.read(ROOT / "notebooks" / f"{nb}.ipynb", as_version=4)
    return ast.parse("\n".join(cell.source for cell in book.cells if cell.cell_type == "code"))


def package_calls(tree: ast.Module) -> set[str]:
    """Qualified names of the x2softmax functions a module calls: names imported from the package, and attributes of
    package modules it imports."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("x2softmax"):
            names.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names})
        elif isinstance(node, ast.Import):
            names.update({alias.asname or alias.name: alias.name for alias in node.names
                          if alias.name.startswith("x2softmax")})
    called = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in names:
                called.add(names[func.id])
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in names:
                called.add(f"{names[func.value.id]}.{func.attr}")
    return called


def _resolve(qualified: str) -> object:
    """The module or function a dotted name points to."""
    module, _, attr = qualified.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return importlib.import_module(qualified)


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_a_notebook_calls_exactly_the_functions_it_declares(nb: str) -> None:
    called = package_calls(_code(nb)) - set(COMMON_CALLS)
    declared = set(NOTEBOOKS[nb]["calls"])
    assert called - declared == set(), f"{nb} calls functions its NOTEBOOKS entry does not declare"
    assert declared - called == set(), f"{nb} declares functions it does not call"
    assert all(callable(_resolve(name)) for name in [*declared, *COMMON_CALLS])


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_the_footer_names_functions_the_page_runs_or_reads(nb: str) -> None:
    """Each footer function is called by the notebook, by a package function it calls, or by the rule that wrote
    its inputs (UPSTREAM)."""
    calls = NOTEBOOKS[nb]["calls"]
    sources = {name: inspect.getsource(_resolve(name)) for name in calls}
    rules = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "workflow/rules").glob("*.smk"))
    for name in NOTEBOOKS[nb]["functions"]:
        _resolve(name)  # exists
        short = name.rpartition(".")[2]
        if name in calls or any(re.search(rf"\b{short}\(", text) for text in sources.values()):
            continue
        assert name in UPSTREAM, f"{nb}: footer names {name}, which neither the page nor an upstream rule runs"
        assert re.search(rf"^rule {UPSTREAM[name]}:", rules, flags=re.M), f"{name}: no rule {UPSTREAM[name]}"


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_parameters_come_from_the_declaration(nb: str) -> None:
    config = xcfg.load_config()
    params = notebook_parameters(nb, config)
    entry = NOTEBOOKS[nb]
    assert set(params) == {"results_dir", "figures_dir", "tables_dir", "synthetic", "preset", "data_root",
                           "datasets", *entry["paths"], *entry["from_config"]}
    tree = _code(nb)
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "p"}
    assert used <= set(params), f"{nb} reads parameters it is not passed: {used - set(params)}"
    for name in package_calls(tree):  # helpers handed the parameters (setup, show_comparison_notice) read them too
        source = inspect.getsource(_resolve(name))
        if re.search(r"\(p: SimpleNamespace", source) or name.endswith(".setup"):
            used |= set(re.findall(r"\bp\.(\w+)", source)) | set(re.findall(r'getattr\(p, "(\w+)"', source))
    assert set(entry["paths"]) | set(entry["from_config"]) <= used, f"{nb} is passed parameters it never reads"
