"""The lent machine's image as the device simulation builds it: its packages at the registry's newest versions.

device_image.txt records the version the simulated image gets for each of the machine's distributions that this
environment has (device_packages.txt; torch stays this environment's, the CPU stand-in for 2.11.0+cu130): the
version KINDS.md recorded on the machine where the registry serves it for this Python, else the newest the registry
served when the list was refreshed. The list is committed, so the simulation is the same wherever the tests run.

    python -m x2softmax.gpucheck.image refresh        # the registry's newest versions into device_image.txt
    python -m x2softmax.gpucheck.image build .device-sim   # make test: the image and the bundle, for this Python

`build` needs the registry once (make test runs it before pytest); the tests then run without it: DIR/site holds
the listed distributions whose version differs from this environment's (the others are linked from here) and
DIR/whl-X.Y the wheel bundle for this Python (bundle.py, as `make wheels` builds it for the machine's 3.12).
"""

from __future__ import annotations

import argparse
import datetime
import re
import shutil
import subprocess
import sys
from pathlib import Path

from x2softmax.gpucheck import bundle
from x2softmax.gpucheck import needs as N
from x2softmax.io import atomic_write_text

IMAGE_FILE = Path(__file__).with_name("device_image.txt")
STAND_INS = {"torch": "this environment's torch stands in for the machine's CUDA build"}
AVAILABLE = re.compile(r"^Available versions: (.+)$", re.MULTILINE)


def python_version() -> str:
    """This interpreter's 'X.Y'."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def image_versions(path: Path = IMAGE_FILE) -> dict[str, str]:
    """Canonical name -> version of the simulated image's distributions (device_image.txt)."""
    pins = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 2:
            raise ValueError(f"{path}:{number}: expected 'name version', got {line.strip()!r}")
        pins[N.canonical(fields[0])] = fields[1]
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


def refresh(path: Path = IMAGE_FILE) -> str:
    """Rewrite device_image.txt from the registry (the recorded version where it is served, else the newest)."""
    recorded, lines = N.recorded_versions(), []
    for name in simulated_names():
        served = served_versions(name)
        if recorded[name] and recorded[name] in served:
            lines.append(f"{name} {recorded[name]}  # recorded on the machine")
        elif recorded[name]:
            lines.append(f"{name} {served[0]}  # the newest; the machine's {recorded[name]} is not served for "
                         f"CPython {python_version()}")
        else:
            lines.append(f"{name} {served[0]}")
    head = (f"# The device simulation's image (x2softmax.gpucheck.image): the lent machine's distributions that the\n"
            f"# tests' environment has, at the version recorded on the machine where the registry serves it, else the\n"
            f"# registry's newest. Resolved for CPython {python_version()} on {datetime.date.today().isoformat()} by\n"
            f"# `make device-image` (needs the registry); torch is the tests' own (the CPU stand-in).\n")
    atomic_write_text(path, head + "\n".join(lines) + "\n")
    return f"device image: {len(lines)} versions in {path}"


def _pip(path: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip {args[0]} for the simulated image ({path}): "
                           f"{(done.stderr.strip().splitlines() or ['failed'])[-1]}")


def build(out: Path, path: Path = IMAGE_FILE, pyproject: Path = Path("pyproject.toml")) -> str:
    """The simulated image's differing distributions in out/site and this Python's bundle in out/whl-X.Y."""
    pins = image_versions(path)
    differing = {name: version for name, version in pins.items()
                 if (dist := N.installed(name)) is None or dist.version != version}
    site, wheels = out / "site", out / "image-wheels"
    shutil.rmtree(site, ignore_errors=True)
    shutil.rmtree(wheels, ignore_errors=True)
    if differing:
        _pip(path, "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(wheels),
             *(f"{name}=={version}" for name, version in sorted(differing.items())))
        _pip(path, "install", "-q", "--no-deps", "--no-index", "--no-compile", "--target", str(site),
             *map(str, sorted(wheels.glob("*.whl"))))
    site.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(wheels, ignore_errors=True)
    carried = bundle.bundle_pins(pyproject, python_version())
    bundle.download(carried, out / f"whl-{python_version()}", python_version())
    return (f"device simulation: image of {len(pins)} pinned distributions, {len(differing)} differing from this "
            f"environment in {site}; bundle of {len(carried)} wheels in {out / f'whl-{python_version()}'}")


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
