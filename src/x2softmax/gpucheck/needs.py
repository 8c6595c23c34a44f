"""What the GPU check needs installed, walked from pyproject.toml through each distribution's own requirements.

Shared by the wheel bundle (`make wheels`, here) and the device preflight (on the lent machine). Imports only the
standard library and `packaging` (present on the lent machine), so it runs before any bundle is installed.
The walk ends at FROM_THE_IMAGE (torch and the compiled numeric stack built against the image's numpy: always the
image's own) and at LEFT_OUT; everything else it reaches is carried by the bundle, so the check runs with the
bundle's versions whatever the image has. What the image's own packages ask of a carried one is added after the walk.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata as md
import email.parser
import re
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

PACKAGES_FILE = Path(__file__).with_name("device_packages.txt")
# Left out of the bundle on purpose: the check runs without them (the gpu profile picks Snakemake's greedy
# scheduler, so no ILP solver; ipykernel and IPython import their debugger and completer only when present).
LEFT_OUT = {"pulp": "Snakemake's ILP scheduler (the gpu profile uses the greedy one)",
            "debugpy": "ipykernel's debugger (imported only if present)",
            "jedi": "IPython's completer (imported only if present)"}
# Taken from the lent machine's image, never carried: torch is its CUDA build (a wheel of about 1 GB); the compiled
# numeric stack is built against the image's numpy, and scipy, pandas, scikit-learn, OpenCV and matplotlib together
# are over 100 MiB, more than a device call carries. A range of theirs that the image does not meet is a warning.
FROM_THE_IMAGE = {"torch": "the machine's CUDA build (2.11.0+cu130 on 2026-11-17)",
                  "numpy": "the machine's (2.5.2 on 2026-11-17); the packages below are built against it",
                  "scipy": "compiled against the image's numpy", "pandas": "compiled against the image's numpy",
                  "scikit-learn": "compiled against the image's numpy",
                  "opencv-python-headless": "compiled against the image's numpy",
                  "matplotlib": "compiled against the image's numpy"}
NOT_FOR_THE_CHECK = {"dvc"}  # data versioning: the check runs the workflow, never `dvc`


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def recorded_versions(path: Path = PACKAGES_FILE) -> dict[str, str]:
    """Canonical name -> version ('' where none was recorded) of every distribution the lent machine has."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    pairs = (line.partition("==")[::2] for line in lines if line)
    return {canonical(name.strip()): version.strip() for name, version in pairs}


def device_packages(path: Path = PACKAGES_FILE) -> frozenset[str]:
    """Canonical names of the distributions the lent machine has."""
    return frozenset(recorded_versions(path))


def check_requirements(pyproject: Path) -> list[Requirement]:
    """The project's dependencies the GPU check uses (all but NOT_FOR_THE_CHECK)."""
    try:
        deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as err:
        raise ValueError(f"{pyproject}: no readable [project] dependencies ({err})") from err
    reqs = [Requirement(dep) for dep in deps]
    return [req for req in reqs if canonical(req.name) not in NOT_FOR_THE_CHECK]


def marker_environment(python_version: str) -> dict[str, str]:
    """PEP 508 marker values of CPython `python_version` (e.g. "3.12") on x86-64 Linux."""
    full = python_version if python_version.count(".") == 2 else f"{python_version}.0"
    return {"python_version": ".".join(full.split(".")[:2]), "python_full_version": full, "os_name": "posix",
            "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
            "platform_python_implementation": "CPython", "implementation_name": "cpython",
            "implementation_version": full, "platform_release": "", "platform_version": "", "extra": ""}


@dataclasses.dataclass
class Need:
    """One distribution the check needs: the combined specifier and who asked for it."""

    name: str
    specifier: SpecifierSet
    required_by: list[str]

    def admits(self, version: str) -> bool:
        """Whether an installed version satisfies every requester (pre-releases and local versions included)."""
        return self.specifier.contains(Version(version).public, prereleases=True) or self.specifier.contains(
            version, prereleases=True)


def walk(roots: list[Requirement], python_version: str, stop: frozenset[str] | set[str],
         requires: Callable[[str], list[str] | None]) -> dict[str, Need]:
    """Every distribution reachable from `roots` (markers evaluated for `python_version`), keyed by canonical name.

    The walk descends through `requires(name)` (None: unknown, so not descended) and stops at `stop` (the image's
    own distributions) and at LEFT_OUT ones, which appear in the result but are not expanded. Then what each `stop`
    distribution asks of a distribution already in the result is added to that one's needs (the image's packages
    import the carried ones too).
    """
    env = marker_environment(python_version)
    needs: dict[str, Need] = {}
    walked_extras: dict[str, set[str]] = {}
    queue: list[tuple[Requirement, str, str]] = [(req, "pyproject.toml", "") for req in roots]
    while queue:
        req, parent, parent_extra = queue.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": parent_extra}):
            continue
        name = canonical(req.name)
        _add(needs, name, req, parent)
        if name in stop or name in LEFT_OUT:
            continue
        extras = {""} | {canonical(extra) for extra in req.extras}  # bleach[css] also needs what "css" adds
        new = extras - walked_extras.setdefault(name, set())
        walked_extras[name] |= new
        for extra in sorted(new):
            queue.extend((Requirement(text), name, extra) for text in requires(name) or []
                         if extra == "" or Requirement(text).marker is not None)
    for parent in sorted(set(needs) & set(stop)):
        for req in map(Requirement, requires(parent) or []):
            name = canonical(req.name)
            if name in needs and (req.marker is None or req.marker.evaluate(env)):
                _add(needs, name, req, parent)
    return needs


def _add(needs: dict[str, Need], name: str, req: Requirement, parent: str) -> None:
    if name in needs:
        needs[name].specifier &= req.specifier
        needs[name].required_by.append(parent)
    else:
        needs[name] = Need(name, SpecifierSet(str(req.specifier)), [parent])


def carried(name: str) -> bool:
    """Whether the bundle carries a distribution the check needs (all but FROM_THE_IMAGE and LEFT_OUT)."""
    return name not in FROM_THE_IMAGE and name not in LEFT_OUT


def installed_requires(name: str) -> list[str] | None:
    """Requires-Dist of the installed distribution `name`, or None when it is not installed."""
    dist = installed(name)
    return None if dist is None else list(dist.requires or [])


def wheel_name(path: Path) -> tuple[str, str]:
    """(canonical distribution name, version) of a wheel file name."""
    parts = path.name.split("-")
    if not path.name.endswith(".whl") or len(parts) < 5:
        raise ValueError(f"{path}: not a wheel file name")
    return canonical(parts[0]), parts[1]


def wheel_requires(path: Path) -> list[str]:
    """Requires-Dist of a wheel file, read from its METADATA."""
    with zipfile.ZipFile(path) as whl:
        names = [n for n in whl.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if len(names) != 1:
            raise ValueError(f"{path}: no single .dist-info/METADATA in the wheel")
        message = email.parser.BytesParser().parsebytes(whl.read(names[0]), headersonly=True)
    return message.get_all("Requires-Dist") or []


def installed(name: str) -> md.Distribution | None:
    """The installed distribution called `name` on the current sys.path, or None."""
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        return None
