"""`make wheels`: the wheels the GPU check needs beyond what the lent machine has, one version of each.

The versions are the ones installed in this environment (the versions the tests ran with); the files are CPython
`python_version` manylinux x86-64 or pure-Python wheels from the registry, and a pure-Python wheel is built here for
any distribution the registry offers only as source (connection_pool). LEFT_OUT distributions are not carried.
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
    """Canonical name -> version installed here, for every distribution the check needs that the machine lacks."""
    machine = N.device_packages()
    walked = N.walk(N.check_requirements(pyproject), python_version, machine, N.installed_requires)
    pins, absent = {}, []
    for name in sorted(walked):
        if name in machine or name in N.LEFT_OUT:
            continue
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

    Returns the names that were built here.
    """
    out.mkdir(parents=True, exist_ok=True)
    target = ["--no-deps", "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
              *(arg for platform in PLATFORMS for arg in ("--platform", platform)), "-d", str(out)]
    wanted, built = dict(pins), []
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


def travelling_bytes(repo: Path) -> int:
    """Bytes of what a device call sends: tracked files and untracked files git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    return sum((repo / name).stat().st_size for name in listed if name and (repo / name).is_file())


def main(out: Path, python_version: str = "3.12", repo: Path = Path(".")) -> str:
    """Build the bundle in `out`; return the one-line size report (wheel count, MiB, tree + bundle MiB)."""
    pins = bundle_pins(repo / "pyproject.toml", python_version)
    built = download(pins, out, python_version)
    wheels = sorted(out.glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels)
    tree = travelling_bytes(repo)
    return (f"wheels: {len(wheels)} wheels for CPython {python_version}, {size / 2**20:.1f} MiB in {out}"
            f" (built here: {', '.join(built) or 'none'}; left out: {', '.join(sorted(N.LEFT_OUT))});"
            f" tree {tree / 2**20:.1f} MiB + bundle = {(tree + size) / 2**20:.1f} MiB of the 64 MiB a call carries")
