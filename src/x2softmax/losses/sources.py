"""The loss registry read from the package's source by `ast`, without importing it (no torch): the files that
define a loss (its class and its bases: a change there reruns only that loss's runs, workflow/rules/common.smk),
its default hyperparameters (the keyword defaults of the `__init__` its class resolves to) and `SUBJECT`, the
subject loss's registry name. The workflow files and the config check read them in every Snakemake process, which
must start without torch. A loss is a class decorated `@register_loss` that sets `name`; `subject = True` in it or a
base marks the subject (x2softmax.losses.base). tests/losses/test_loss_sources.py checks this reading against the
imported registry."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import NamedTuple

PACKAGE = Path(__file__).parent  # src/x2softmax/losses: the package this module reads by default
_PREFIX = "x2softmax.losses."


class LossClass(NamedTuple):
    """A class of a module of the loss package, as its source reads."""

    module: str  # the module's file stem ("elastic")
    bases: tuple[tuple[str, str], ...]  # (module, class) of each base named in the class statement
    name: str | None  # its registry name where it is decorated with @register_loss, else None
    subject: bool | None  # the value its body gives `subject`, None where it gives none
    init: ast.FunctionDef | None  # the __init__ its body defines, else None


def _assigned(path: Path, node: ast.ClassDef, key: str) -> object:
    """The literal a class body assigns to `key` (`key = v` or `key: T = v`); None where it assigns none."""
    for stmt in node.body:
        targets = [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else \
            stmt.targets if isinstance(stmt, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == key for t in targets):
            try:
                return ast.literal_eval(stmt.value)
            except ValueError:
                raise ValueError(f"{path}: line {stmt.lineno}: class {node.name} must set {key} to a literal (the "
                                 "workflow reads it from the source: x2softmax.losses.sources)") from None
    return None


def _imported_classes(tree: ast.Module) -> dict[str, tuple[str, str]]:
    """Local name -> (module, class) of each name a module imports from another module of the package."""
    imported = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            module = node.module.removeprefix(_PREFIX) if node.level == 0 and node.module.startswith(_PREFIX) else \
                node.module if node.level == 1 else None
            if module is not None:
                imported |= {alias.asname or alias.name: (module, alias.name) for alias in node.names}
    return imported


def _init_defaults(path: Path, cls: str, init: ast.FunctionDef) -> dict[str, object]:
    """Parameter -> literal default of each parameter but self of a class's `__init__`, in the order
    inspect.signature lists them; a ValueError naming the file where one has no literal default."""
    args = init.args
    if args.vararg or args.kwarg:
        raise ValueError(f"{path}: line {init.lineno}: {cls}.__init__ must name its hyperparameters (no *args, "
                         "**kwargs)")
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    found = {}
    for arg, default in list(zip(positional, defaults))[1:] + list(zip(args.kwonlyargs, args.kw_defaults)):
        try:
            found[arg.arg] = ast.literal_eval(default) if default is not None else None
        except ValueError:
            default = None
        if default is None:
            raise ValueError(f"{path}: line {init.lineno}: {cls}.__init__ must give {arg.arg} a literal default (the "
                             "defaults are read from the source: x2softmax.losses.sources)")
    return found


@cache
def _classes(package: Path) -> dict[tuple[str, str], LossClass]:
    """(module, class) -> LossClass of every top-level class in the package's modules (read once per process)."""
    classes = {}
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        imported = _imported_classes(tree)
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                registered = any(isinstance(d, ast.Name) and d.id == "register_loss" for d in node.decorator_list)
                bases = tuple(imported.get(b.id, (path.stem, b.id)) for b in node.bases if isinstance(b, ast.Name))
                name = _assigned(path, node, "name") if registered else None
                if registered and not isinstance(name, str):
                    raise ValueError(f"{path}: line {node.lineno}: loss class {node.name} must set name to a string")
                subject = _assigned(path, node, "subject")
                init = next((f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
                classes[(path.stem, node.name)] = LossClass(path.stem, bases, name, None if subject is None else
                                                            bool(subject), init)
    return classes


def _mro(classes: dict[tuple[str, str], LossClass], key: tuple[str, str]) -> list[tuple[str, str]]:
    """A class and its bases defined in the package, in Python's method resolution order (C3 linearisation)."""
    bases = [base for base in classes[key].bases if base in classes]
    sequences = [_mro(classes, base) for base in bases] + [bases]
    order = [key]
    while any(sequences):
        heads = [seq[0] for seq in sequences if seq]
        head = next((h for h in heads if not any(h in seq[1:] for seq in sequences)), None)
        if head is None:
            raise ValueError(f"{classes[key].module}.py: class {key[1]}: its bases have no consistent order")
        order.append(head)
        sequences = [seq[1:] if seq and seq[0] == head else seq for seq in sequences]
    return order


def registered(package: Path = PACKAGE) -> dict[str, tuple[str, str]]:
    """Registry name -> (module, class) of every loss of the package, in the registry's order (modules by name)."""
    losses: dict[str, tuple[str, str]] = {}
    for key, cls in _classes(package).items():
        if cls.name is not None:
            if cls.name in losses:
                raise ValueError(f"{package / (key[0] + '.py')}: loss {cls.name!r} is already registered by "
                                 f"{package / (losses[cls.name][0] + '.py')}")
            losses[cls.name] = key
    return losses


def loss_files(name: str, package: Path = PACKAGE) -> list[Path]:
    """The package's files that define loss `name` (its class and its bases) and its __init__.py, sorted."""
    losses = registered(package)
    if name not in losses:
        raise ValueError(f"unknown loss {name!r}; known losses: {', '.join(losses)}")
    modules = {module for module, _ in _mro(_classes(package), losses[name])}
    return sorted({package / f"{module}.py" for module in modules} | {package / "__init__.py"})


def default_hparams(name: str, package: Path = PACKAGE) -> dict[str, object]:
    """Default hyperparameters of loss `name`: the keyword defaults of the first `__init__` along its class's MRO."""
    losses = registered(package)
    if name not in losses:
        raise ValueError(f"unknown loss {name!r}; known losses: {', '.join(losses)}")
    classes = _classes(package)
    owner = next((key for key in _mro(classes, losses[name]) if classes[key].init is not None), None)
    if owner is None:
        raise ValueError(f"{package / (losses[name][0] + '.py')}: loss {name!r} defines no __init__ in its class or "
                         "a base in the package")
    return _init_defaults(package / f"{owner[0]}.py", owner[1], classes[owner].init)


def is_subject(name: str, package: Path = PACKAGE) -> bool:
    """Whether loss `name` sets subject = True, in its class or the nearest base that sets it."""
    classes = _classes(package)
    flags = [classes[key].subject for key in _mro(classes, registered(package)[name])
             if classes[key].subject is not None]
    return bool(flags and flags[0])


def subject(package: Path = PACKAGE) -> str:
    """The registry name of the one loss that sets subject = True; ImportError unless exactly one does."""
    subjects = [name for name in registered(package) if is_subject(name, package)]
    if len(subjects) != 1:
        raise ImportError(f"x2softmax.losses: exactly one loss must set subject = True, found {subjects}")
    return subjects[0]


SUBJECT: str = subject()  # registry name of the loss this replication is about (X2-Softmax)
