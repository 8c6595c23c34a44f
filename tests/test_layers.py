"""Imports under src/x2softmax and in the notebooks point down the layers drawn in docs/architecture.md ("Layers"),
and no two modules of the package import each other (function-local imports included)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "x2softmax"
NOTEBOOK_TOP = 5  # a notebook imports the report layer and what lies below it

# Bottom (0) to top; a module may import its own layer or a lower one. Keep in step with docs/architecture.md.
LAYERS: dict[str, int] = {
    "limits": 0, "vocabulary": 0, "io": 0, "notices": 0, "errors": 0, "phases": 0, "shutdown": 0, "torchcompat": 0,
    "cluster": 0, "runspec": 0, "cpukernels": 0,
    "torchfile": 1, "losses": 1,
    "config": 2, "data": 2, "models": 2,
    "analysis": 3, "evaluate": 3, "dvc_stage": 3,
    "train": 4, "plan": 4,
    "report": 5, "rehearsal": 5,
    "gpucheck": 6,
    "cli": 7, "review": 7, "snakerun": 7, "__main__": 7, "__init__": 7,
}
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()  # (importer, imported) pairs awaiting a move, each naming its issue


def _imported(tree: ast.AST) -> list[str]:
    """The absolute module names a parsed file imports."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _edges() -> list[tuple[str, str, str]]:
    """(file, importer's top-level name, imported top-level name) for every x2softmax import under src/."""
    edges = []
    for path in sorted(SRC.rglob("*.py")):
        me = path.relative_to(SRC).parts[0].removesuffix(".py")
        edges += [(str(path.relative_to(SRC)), me, n.split(".")[1])
                  for n in _imported(ast.parse(path.read_text(), str(path)))
                  if n.startswith("x2softmax.") and n.split(".")[1] != me]
    return edges


def test_every_top_level_module_has_a_layer() -> None:
    names = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in SRC.rglob("*.py")}
    assert names - {"__pycache__"} <= set(LAYERS), sorted(names - set(LAYERS))


def test_no_import_points_upward() -> None:
    upward = [f"{file}: {me} (layer {LAYERS[me]}) imports {dep} (layer {LAYERS[dep]})"
              for file, me, dep in _edges() if LAYERS[dep] > LAYERS[me] and (me, dep) not in KNOWN_EXCEPTIONS]
    assert not upward, "\n".join(upward)


def test_the_architecture_page_draws_these_layers() -> None:
    rows = re.findall(r"^\| (\d+)(?: \((?:top|bottom)\))? \| (.+?) \|", (ROOT / "docs/architecture.md").read_text(),
                      re.M)
    drawn = {name: int(layer) for layer, modules in rows
             for name in re.findall(r"`([\w]+)`", modules.split(" — ")[0])}
    assert drawn == LAYERS


def test_notebooks_import_the_report_layer_and_below() -> None:
    upward = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        upward += [f"{path.name} imports {n}" for n in _imported(ast.parse(code, str(path)))
                   if n.startswith("x2softmax.") and LAYERS[n.split(".")[1]] > NOTEBOOK_TOP]
    assert not upward, "\n".join(upward)


def _module_name(path: Path, src: Path) -> str:
    """The dotted name of a module file under `src` (a package's __init__.py is the package)."""
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(src: Path) -> dict[str, set[str]]:
    """{module: the package modules it imports}, function-local imports included: `from a.b import c` points to
    a.b.c where that is a module, else to a.b; relative imports are resolved."""
    files = {_module_name(path, src): path for path in sorted(src.rglob("*.py"))}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name in files}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                            for alias in node.names if f"{base}.{alias.name}" in files or base in files}
        graph[name] = targets - {name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The modules that import each other, directly or round a loop: the strongly connected components of more than
    one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = stack[stack.index(module):]
            del stack[stack.index(module):]
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_no_two_package_modules_import_each_other() -> None:
    cycles = import_cycles(import_graph(SRC))
    assert not cycles, "import cycles (function-local imports included):\n" + "\n".join(" ↔ ".join(c) for c in cycles)


def test_the_cycle_check_catches_a_planted_function_local_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub/__init__.py").write_text("")
    (package / "sub/a.py").write_text("from pkg.sub import b\n")
    (package / "sub/b.py").write_text("def f():\n    from . import c\n")
    (package / "sub/c.py").write_text("import pkg.sub.a\n")
    (package / "d.py").write_text("from pkg.sub.a import x\n")
    assert import_cycles(import_graph(package)) == [["pkg.sub.a", "pkg.sub.b", "pkg.sub.c"]]
