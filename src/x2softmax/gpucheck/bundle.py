"""`make wheels`: every distribution the GPU check needs but the image's own (needs.FROM_THE_IMAGE), one version each.

The bundle carries also what the lent machine has (packaging, jinja2, pyyaml, requests, ...): installed first on
the path, it makes the check run with the versions the tests ran with, whatever versions the image holds. The
versions are the ones installed in this environment; the files are CPython `python_version` manylinux x86-64 or
pure-Python wheels from the registry, and a pure-Python wheel is built here for any distribution the registry offers
only as source (connection_pool). LEFT_OUT distributions are not carried.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from x2softmax.gpucheck import needs as N

PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "manylinux_2_31_x86_64", "manylinux_2_34_x86_64",
             "manylinux_2_35_x86_64")
NO_MATCH = re.compile(r"No matching distribution found for ([A-Za-z0-9_.\-]+)==")


def bundle_pins(pyproject: Path, python_version: str) -> dict[str, str]:
    """Canonical name -> version installed here, for every distribution the check needs that the bundle carries."""
    walked = N.walk(N.check_requirements(pyproject), python_version, set(N.FROM_THE_IMAGE), N.installed_requires)
    pins, absent = {}, []
    for name in sorted(filter(N.carried, walked)):
        dist = N.installed(name)
        if dist is None:
            absent.append(name)
        else:
            pins[name] = dist.version
    if absent:
        raise ValueError(f"{pyproject}: needed but not installed here, so no version to carry: {', '.join(absent)}")
    return pins


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)


def download(pins: dict[str, str], out: Path, python_version: str) -> list[str]:
    """Download each pinned wheel for the target into `out`; build pure-Python wheels for source-only ones.

    A pinned wheel already in `out` is kept (no registry call when all are). Returns the names built here this time.
    """
    out.mkdir(parents=True, exist_ok=True)
    present = {N.wheel_name(w) for w in out.glob("*.whl")}  # a rerun downloads only what changed
    target = ["--no-deps", "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
              *(arg for platform in PLATFORMS for arg in ("--platform", platform)), "-d", str(out)]
    wanted, built = {name: version for name, version in pins.items() if (name, version) not in present}, []
    while wanted:
        done = _pip("download", "-q", *target, *(f"{name}=={version}" for name, version in wanted.items()))
        if done.returncode == 0:
            break
        match = NO_MATCH.search(done.stderr)
        if match is None or N.canonical(match.group(1)) not in wanted:
            raise RuntimeError(f"pip download failed: {done.stderr.strip().splitlines()[-1:]}")
        name = N.canonical(match.group(1))
        version = wanted.pop(name)
        source = ("wheel", "-q", "--no-deps", "--no-binary", ":all:", "-w", str(out), f"{name}=={version}")
        made = _pip(*source, "--no-build-isolation")  # seconds with this environment's setuptools
        if made.returncode != 0:
            made = _pip(*source)  # an isolated build environment fetches the build backend it names
        if made.returncode != 0:
            raise RuntimeError(f"{name}=={version}: no wheel on the registry and building one failed: "
                               f"{made.stderr.strip().splitlines()[-1:]}")
        built.append(name)
    for wheel in out.glob("*.whl"):  # one version of each, nothing else
        name, version = N.wheel_name(wheel)
        if pins.get(name) != version:
            wheel.unlink()
        elif name in built and not wheel.name.endswith("-none-any.whl"):
            raise RuntimeError(f"{wheel}: built here but not pure Python: it would not run on the lent machine")
    missing = sorted(set(pins) - {N.wheel_name(w)[0] for w in out.glob("*.whl")})
    if missing:
        raise RuntimeError(f"{out}: no wheel for {', '.join(missing)}")
    return built


def travelling_bytes(repo: Path) -> int | None:
    """Bytes of what a device call sends (tracked files, untracked ones git does not ignore); None without git."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                                capture_output=True, text=True, check=True).stdout.split("\0")
    except (OSError, subprocess.CalledProcessError):  # no git, or not a git checkout (a downloaded archive)
        return None
    return sum((repo / name).stat().st_size for name in listed if name and (repo / name).is_file())


def main(out: Path, python_version: str = "3.12", repo: Path = Path(".")) -> str:
    """Build the bundle in `out`; return the one-line size report (wheel count, MiB, tree + bundle MiB)."""
    pins = bundle_pins(repo / "pyproject.toml", python_version)
    built = download(pins, out, python_version)
    wheels = sorted(out.glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels)
    tree = travelling_bytes(repo)
    shadowed = len(set(pins) & N.device_packages())
    travel = (f"tree not measured ({repo.resolve()} is not a git checkout): the bundle is {size / 2**20:.1f} MiB of"
              f" the 64 MiB a call carries" if tree is None else
              f"tree {tree / 2**20:.1f} MiB + bundle = {(tree + size) / 2**20:.1f} MiB of the 64 MiB a call carries")
    return (f"wheels: {len(wheels)} wheels for CPython {python_version}, {size / 2**20:.1f} MiB in {out}"
            f" ({shadowed} also on the machine's image, carried for their versions; taken from the image: "
            f"{', '.join(sorted(N.FROM_THE_IMAGE))}; built here: "
            f"{', '.join(built) or 'none'}; left out: {', '.join(sorted(N.LEFT_OUT))}); {travel}")
