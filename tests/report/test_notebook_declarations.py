"""Each notebook's NOTEBOOKS entry is its one declaration: the parameters the workflow passes (and a notebook opened
by hand resolves), the files its job reads, and the functions its footer names as computing its numbers; what else it
calls is read from its code cells."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import string
from pathlib import Path

import nbformat
import pytest

from x2softmax import config as xcfg
from x2softmax.report.artifacts import COMMON_PATHS, NOTEBOOKS
from x2softmax.report.params import INPUT_LISTS, notebook_inputs, notebook_parameters

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


# Footer functions a notebook does not run: they wrote its inputs, in the workflow rule named.
UPSTREAM = {
    "x2softmax.analysis.margins.write_margin_tables": "margins",
    "x2softmax.analysis.toy.run_toy": "toy",
    "x2softmax.evaluate.run.evaluate_model": "evaluate",
    "x2softmax.evaluate.uncertainty": "uncertainty",
    "x2softmax.train.trainer.train": "train",
    "x2softmax.train.health.run_health": "run_health",
    "x2softmax.analysis.probe.head_probe": "mechanism_probe",
    "x2softmax.analysis.probe.kind_rows": "mechanism_probe",
    "x2softmax.analysis.study_tables.study_tables": "mechanism_tables",
}
ENTRY_KEYS = {"title", "study", "data", "figures", "tables", "paths", "from_config", "inputs", "functions", "captions"}


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_every_package_function_a_notebook_calls_exists(nb: str) -> None:
    called = package_calls(_code(nb))
    assert "x2softmax.report.notebook.setup" in called and "x2softmax.report.artifacts.check_outputs" in called
    assert all(callable(_resolve(name)) for name in called)
    assert set(NOTEBOOKS[nb]) <= ENTRY_KEYS, f"{nb}: keys nothing reads: {set(NOTEBOOKS[nb]) - ENTRY_KEYS}"


def test_the_call_reader_sees_imported_names_and_module_attributes() -> None:
    tree = ast.parse("from x2softmax.report import plots as pl\nfrom x2softmax.report.page import show_table\n"
                     "import numpy as np\npl.roc_figure(np.ones(2))\nshow_table(1)\n"
                     "def f():\n    pl.notice_figure('')\n")
    assert package_calls(tree) == {"x2softmax.report.plots.roc_figure", "x2softmax.report.page.show_table",
                                   "x2softmax.report.plots.notice_figure"}


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_the_footer_names_functions_the_page_runs_or_reads(nb: str) -> None:
    """Each footer function is called by the notebook, by a package function it calls, or by the rule that wrote
    its inputs (UPSTREAM)."""
    calls = package_calls(_code(nb))
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


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_inputs_come_from_the_parameters(nb: str) -> None:
    """Every "{name}" of an input is a parameter of the notebook or a list of INPUT_LISTS, and every file or folder
    parameter of its own is read: a *_csv is an input, a *_dir holds one."""
    entry = NOTEBOOKS[nb]
    config = xcfg.load_config("paper")
    params = notebook_parameters(nb, config)
    for template in entry["inputs"]:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
        assert names <= set(params) | set(INPUT_LISTS), f"{nb}: {template} names {names - set(params)}"
    files = notebook_inputs(nb, config)
    assert files and len(files) == len(set(files))
    for name in set(entry["paths"]) - set(COMMON_PATHS):
        path = params[name]
        assert (path in files) if name.endswith("_csv") else any(f.startswith(f"{path}/") for f in files), (nb, name)


def test_an_input_naming_no_parameter_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(NOTEBOOKS, "99_planted", {**NOTEBOOKS["07_geometry"], "inputs": ["{train_dir}/{nothing}.pt"]})
    with pytest.raises(KeyError, match="nothing is neither a parameter of the notebook nor in INPUT_LISTS"):
        notebook_inputs("99_planted", xcfg.load_config())
