"""The lent machine's image as the device simulation builds it: its packages at the registry's newest versions.

device_image.txt records the version the simulated image gets for each of the machine's distributions that this
environment has (device_packages.txt; torch stays this environment's, the CPU stand-in for 2.11.0+cu130): the
version KINDS.md recorded on the machine where the registry serves it for this Python, else the newest the registry
served when the list was refreshed. A third field gives the oldest plausible version of what runs before the bundle
is on the path (BEFORE_THE_BUNDLE): the second, "oldest" image has it, the newest versions otherwise. The list is
committed, so the simulations are the same wherever the tests run.

    python -m x2softmax.gpucheck.image refresh        # the registry's newest versions into device_image.txt
    python -m x2softmax.gpucheck.image build .device-sim   # make test: the images and the bundle, for this Python

`build` needs the registry once (make test runs it before pytest); the tests then run without it: DIR/newest and
DIR/oldest hold each image's distributions whose version differs from this environment's (the others are linked
from here) and DIR/whl-X.Y the wheel bundle for this Python (bundle.py, as `make wheels` builds it for 3.12).
"""

from __future__ import annotations

import argparse
import datetime
import re
import shutil
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from x2softmax.gpucheck import bundle
from x2softmax.gpucheck import needs as N
from x2softmax.io import atomic_write_text

IMAGE_FILE = Path(__file__).with_name("device_image.txt")
STAND_INS = {"torch": "this environment's torch stands in for the machine's CUDA build"}
IMAGES = ("newest", "oldest")
# What the image runs before the bundle is first on the path, and the floor of its plausible versions beyond what the
# image's other packages (those installed here) require of it: the preflight imports packaging, pip installs the bundle.
BEFORE_THE_BUNDLE = {"packaging": "", "pip": ">=24.0"}  # pip 24.0: what Python 3.12.3's ensurepip installs
AVAILABLE = re.compile(r"^Available versions: (.+)$", re.MULTILINE)


def python_version() -> str:
    """This interpreter's 'X.Y'."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def image_versions(path: Path = IMAGE_FILE, which: str = "newest") -> dict[str, str]:
    """Canonical name -> version of the simulated image `which` ('newest' or 'oldest') from device_image.txt."""
    pins = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) not in (2, 3):
            raise ValueError(f"{path}:{number}: expected 'name version [oldest]', got {line.strip()!r}")
        pins[N.canonical(fields[0])] = fields[-1] if which == "oldest" else fields[1]
    return pins


def simulated_names() -> list[str]:
    """The machine's distributions installed here, but the stand-ins: the names the simulated image pins."""
    return sorted(name for name in N.device_packages() - set(STAND_INS) if N.installed(name) is not None)


def served_versions(name: str) -> list[str]:
    """The versions the registry serves for this interpreter, newest first (pip index versions)."""
    done = subprocess.run([sys.executable, "-m", "pip", "index", "versions", name], capture_output=True, text=True)
    found = AVAILABLE.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"pip index versions {name}: {(done.stderr.strip().splitlines() or ['no answer'])[-1]}")
    return [version.strip() for version in found.group(1).split(",")]


def oldest_admitted(name: str, floor: str, served: list[str]) -> str:
    """The oldest served version of `name` within `floor` and what the image's other packages here require of it."""
    spec = SpecifierSet(floor)
    for parent in [*simulated_names(), *STAND_INS]:
        for req in map(Requirement, N.installed_requires(parent) or []):
            if N.canonical(req.name) == name and (req.marker is None or req.marker.evaluate(
                    N.marker_environment(python_version()))):
                spec &= req.specifier
    admitted = [version for version in served if spec.contains(version)]
    if not admitted:
        raise RuntimeError(f"{name}: the registry serves no version within {spec}")
    return admitted[-1]


def refresh(path: Path = IMAGE_FILE) -> str:
    """Rewrite device_image.txt from the registry (the recorded version where it is served, else the newest)."""
    recorded, lines = N.recorded_versions(), []
    for name in simulated_names():
        served = served_versions(name)
        newest = recorded[name] if recorded[name] in served else served[0]
        oldest = f" {oldest_admitted(name, BEFORE_THE_BUNDLE[name], served)}" if name in BEFORE_THE_BUNDLE else ""
        note = ("  # recorded on the machine" if recorded[name] == newest else
                f"  # the newest; the machine's {recorded[name]} is not served for CPython {python_version()}"
                if recorded[name] else "")
        lines.append(f"{name} {newest}{oldest}{note}")
    head = (f"# The device simulation's images (x2softmax.gpucheck.image): the lent machine's distributions that the\n"
            f"# tests' environment has, at the version recorded on the machine where the registry serves it, else the\n"
            f"# registry's newest; a third field: the oldest plausible version (image 'oldest'). Resolved for\n"
            f"# CPython {python_version()} on {datetime.date.today().isoformat()} by `make device-image` (needs the"
            f" registry);\n# torch is the tests' own (the CPU stand-in).\n")
    atomic_write_text(path, head + "\n".join(lines) + "\n")
    return f"device image: {len(lines)} versions in {path}"


def _pip(path: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip {args[0]} for the simulated image ({path}): "
                           f"{(done.stderr.strip().splitlines() or ['failed'])[-1]}")


def build(out: Path, path: Path = IMAGE_FILE, pyproject: Path = Path("pyproject.toml")) -> str:
    """Each image's distributions that differ from this environment in out/<image>; the bundle in out/whl-X.Y."""
    counts = []
    for which in IMAGES:
        pins = image_versions(path, which)
        differing = {name: version for name, version in pins.items()
                     if (dist := N.installed(name)) is None or dist.version != version}
        site, wheels = out / which, out / f"{which}-wheels"
        shutil.rmtree(site, ignore_errors=True)
        shutil.rmtree(wheels, ignore_errors=True)
        if differing:
            _pip(path, "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(wheels),
                 *(f"{name}=={version}" for name, version in sorted(differing.items())))
            _pip(path, "install", "-q", "--no-deps", "--no-index", "--no-compile", "--target", str(site),
                 *map(str, sorted(wheels.glob("*.whl"))))
        site.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(wheels, ignore_errors=True)
        counts.append(f"{which}: {len(differing)} of {len(pins)} differing from this environment in {site}")
    carried = bundle.bundle_pins(pyproject, python_version())
    bundle.download(carried, out / f"whl-{python_version()}", python_version())
    return (f"device simulation: images {'; '.join(counts)}; bundle of {len(carried)} wheels in "
            f"{out / f'whl-{python_version()}'}")


def main(argv: list[str] | None = None) -> int:
    """Command line: refresh | build DIR (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="python -m x2softmax.gpucheck.image", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("refresh", "build"))
    parser.add_argument("out", nargs="?", type=Path, default=Path(".device-sim"), help="build: the folder")
    args = parser.parse_args(argv)
    try:
        print(refresh() if args.action == "refresh" else build(args.out))
    except (ValueError, RuntimeError, OSError) as err:
        print(f"device image: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
