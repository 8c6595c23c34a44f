"""Imports under src/x2softmax and in the notebooks point down the layers drawn in docs/architecture.md ("Layers")."""

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
    "limits": 0, "vocabulary": 0, "io": 0, "notices": 0, "errors": 0, "phases": 0, "torchcompat": 0, "cluster": 0,
    "runspec": 0, "cpukernels": 0,
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
