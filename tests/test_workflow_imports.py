"""The modules the workflow files import (Snakefile, workflow/rules/*.smk) import no torch, scipy, pandas or
matplotlib when they are imported: every Snakemake process (dry runs, the main process of `make replicate`, each job
a Slurm or Kubernetes executor starts) reads those files, and those imports cost seconds of CPU each
(docs/timings.md). Read statically, as tests/test_layers.py reads the layers: the import lines of the workflow
files, then, through the package's files, every import that runs at import time (module level and class bodies,
`if`/`try` blocks included; function bodies and `if TYPE_CHECKING:` blocks not)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
HEAVY = ("torch", "scipy", "pandas", "matplotlib")
WORKFLOW_FILES = [ROOT / "Snakefile", *sorted((ROOT / "workflow/rules").glob("*.smk"))]
IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+import[ \t]|import[ \t])")


def workflow_imports(path: Path) -> list[str]:
    """The modules a workflow file's import statements name, wherever they stand (a line, or a parenthesised
    import continued over lines)."""
    lines, names, i = path.read_text(encoding="utf-8").splitlines(), [], 0
    while i < len(lines):
        if IMPORT_LINE.match(lines[i]):
            statement = lines[i].strip()
            while True:  # a parenthesised import goes on until it parses
                try:
                    tree = ast.parse(statement)
                    break
                except SyntaxError:
                    i += 1
                    statement += "\n" + lines[i].strip()
            names += _imported_at_import(tree, "")
        i += 1
    return names


def _type_checking(node: ast.If) -> bool:
    return isinstance(node.test, (ast.Name, ast.Attribute)) and ast.unparse(node.test).endswith("TYPE_CHECKING")


def _imported_at_import(tree: ast.AST, package: str) -> list[str]:
    """The modules a parsed file imports while it is imported itself (function bodies and TYPE_CHECKING blocks are
    left out); `package`: the file's package, for relative imports."""
    names = []
    todo = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and _type_checking(node):
            todo += node.orelse
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
        todo += list(ast.iter_child_nodes(node))
    return names


def _module_file(name: str, src: Path) -> Path | None:
    """The file of a module under `src` (a package: its __init__.py); None for a name that is not one there."""
    path = src.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def heavy_imports(names: list[str], src: Path, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """'chain -> heavy library', the first chain found for each heavy library that importing `names` reaches
    through the modules under `src` (importing a.b.c runs a, a.b and a.b.c)."""
    found: dict[str, str] = {}
    seen = set()
    todo = [(name, [name]) for name in names]
    while todo:
        name, chain = todo.pop(0)
        parts = name.split(".")
        if parts[0] in heavy:
            found.setdefault(parts[0], " -> ".join([*chain[:-1], parts[0]]))
            continue
        for depth in range(1, len(parts) + 1):
            module = ".".join(parts[:depth])
            path = _module_file(module, src)
            if path is None or module in seen:
                continue
            seen.add(module)
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            todo += [(target, [*chain, target]) for target in _imported_at_import(tree, package)]
    return [found[library] for library in sorted(found)]


def test_the_workflow_files_import_no_heavy_library() -> None:
    names = [name for path in WORKFLOW_FILES for name in workflow_imports(path)]
    assert any(name.startswith("x2softmax.") for name in names)  # the reading found the package's imports
    heavy = heavy_imports(names, SRC)
    assert not heavy, "importing the workflow files' modules imports:\n" + "\n".join(heavy)


def test_the_check_follows_module_level_imports_only(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pandas\n")
    (package / "light.py").write_text("def f():\n    import torch\n\n\nclass C:\n    x = 1\n")
    (package / "table.py").write_text("try:\n    from .frame import Frame\nexcept ImportError:\n    Frame = None\n")
    (package / "frame.py").write_text("class Frame:\n    from scipy import stats\n")
    rules = tmp_path / "rules.smk"
    rules.write_text("rule a:\n    output: 'x'\n\nif True:\n    from pkg.light import (\n        C,\n    )\n"
                     "from pkg import table\n")
    names = workflow_imports(rules)
    assert names == ["pkg.light", "pkg.light.C", "pkg", "pkg.table"]
    assert heavy_imports(names, tmp_path) == ["pkg.table -> pkg.frame -> scipy"]
