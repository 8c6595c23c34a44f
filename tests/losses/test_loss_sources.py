"""x2softmax.losses.sources reads the registry from the loss package's source (the workflow files use it without
torch): for every registered loss, and for the probe loss tests/workflow/extend.py adds, its files are those of the
imported class's MRO within the package (plus losses/__init__.py), its subject flag is the class's and its default
hyperparameters are those inspect.signature reads from the imported class's __init__ (the reference here)."""

from __future__ import annotations

import importlib.util
import inspect
import shutil
import sys
from pathlib import Path

import pytest

from extend import LOSS_MODULE, PROBE_LOSS
from x2softmax.losses import SUBJECT, base, registry, sources

LOSSES = registry.LOSSES  # filled: the registry has imported every loss module


def _imported_files(cls: type, package: Path) -> list[Path]:
    """The files of the loss package that define `cls` and its bases, as the imported classes tell (and __init__.py)."""
    modules = {c.__module__ for c in cls.__mro__ if c.__module__.startswith("x2softmax.losses.")}
    return sorted({package / f"{module.rpartition('.')[2]}.py" for module in modules} | {package / "__init__.py"})


def _imported_defaults(cls: type) -> list[tuple[str, object]]:
    """(parameter, default) of the imported class's __init__ as inspect.signature reads it, in its order."""
    return [(key, p.default) for key, p in inspect.signature(cls.__init__).parameters.items() if key != "self"]


def test_the_source_reading_agrees_with_the_imported_registry() -> None:
    assert list(sources.registered()) == list(LOSSES)
    for name, cls in LOSSES.items():
        assert sources.loss_files(name) == _imported_files(cls, sources.PACKAGE), name
        assert sources.is_subject(name) == cls.subject, name
        assert list(sources.default_hparams(name).items()) == _imported_defaults(cls), name
    assert SUBJECT == sources.subject() == next(name for name, cls in LOSSES.items() if cls.subject)


def test_a_loss_added_in_its_own_module_is_read_as_the_registry_imports_it(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "losses"
    shutil.copytree(sources.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / f"{PROBE_LOSS}.py").write_text(LOSS_MODULE, encoding="utf-8")
    monkeypatch.setattr(base, "LOSSES", dict(LOSSES))  # the probe registers into a copy of the registry
    name = f"x2softmax.losses.{PROBE_LOSS}"
    spec = importlib.util.spec_from_file_location(name, package / f"{PROBE_LOSS}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    registry = base.LOSSES
    assert PROBE_LOSS in registry and list(sources.registered(package)) == sorted(
        registry, key=lambda n: (registry[n].__module__, list(registry).index(n)))
    for loss, cls in registry.items():
        assert sources.loss_files(loss, package) == _imported_files(cls, package), loss
        assert sources.is_subject(loss, package) == cls.subject, loss
        assert list(sources.default_hparams(loss, package).items()) == _imported_defaults(cls), loss
    assert sources.default_hparams(PROBE_LOSS, package) == {"s": 64.0, "gradient": "straight_through"}
    assert sources.loss_files(PROBE_LOSS, package) == [package / "__init__.py", package / "base.py",
                                                        package / f"{PROBE_LOSS}.py"]


def test_an_unknown_loss_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown loss 'nosuchface'; known losses: .*arcface"):
        sources.loss_files("nosuchface")


def test_a_second_subject_is_refused(tmp_path: Path) -> None:
    package = tmp_path / "losses"
    shutil.copytree(sources.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "twin.py").write_text(LOSS_MODULE.replace(f'"{PROBE_LOSS}"', '"twin"').replace(
        "MARGIN: ClassVar[float] = 0.2", "MARGIN: ClassVar[float] = 0.2\n    subject: ClassVar[bool] = True"))
    with pytest.raises(ImportError, match=r"exactly one loss must set subject = True, found \['twin', 'x2softmax'\]"):
        sources.subject(package)


def test_the_mro_is_python_s_where_bases_diamond(tmp_path: Path) -> None:
    package = tmp_path / "losses"
    shutil.copytree(sources.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "diamond.py").write_text(
        "from x2softmax.losses.base import MarginLoss, register_loss\n\n\n"
        "class Left(MarginLoss):\n    pass\n\n\n"
        "class Right(MarginLoss):\n    def __init__(self, s: float = 3.0, gradient: str = 'exact') -> None:\n"
        "        super().__init__(s=s, gradient=gradient)\n\n\n"
        "@register_loss\nclass Diamond(Left, Right):\n    name = 'diamond'\n", encoding="utf-8")
    # Python's MRO: Diamond, Left, Right, MarginLoss: Right's __init__, not MarginLoss's (a depth-first walk's)
    assert sources.default_hparams("diamond", package) == {"s": 3.0, "gradient": "exact"}


def test_a_default_that_is_no_literal_is_refused_naming_the_file(tmp_path: Path) -> None:
    package = tmp_path / "losses"
    shutil.copytree(sources.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / f"{PROBE_LOSS}.py").write_text(LOSS_MODULE.replace("s: float = 64.0", "s: float = 2 ** 6"))
    with pytest.raises(ValueError, match=rf"{PROBE_LOSS}\.py: line \d+: ProbeFace.__init__ must give s a literal"):
        sources.default_hparams(PROBE_LOSS, package)
