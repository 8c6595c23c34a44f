"""The lent GPU machine simulated here: a Python that has only the machine's packages, at the registry's newest
versions (or the oldest plausible ones), and the wheel bundle.

`device_python`: a venv (this interpreter, no system site-packages) whose site-packages links the distributions of
device_packages.txt: at the versions of device_image.txt (the registry's newest, or the version recorded on the
machine), from .device-sim/newest where they differ from this environment's, else from here (torch 2.13.0 CPU
standing in for 2.11.0+cu130); built once per session in about a second (links, no copies, no network).
`device_python_oldest`: the same with the oldest plausible versions of what runs before the bundle (packaging, pip).
`device_bundle`: the wheel bundle for this interpreter's CPython version (`x2softmax.gpucheck.bundle`, as `make
wheels` builds it for 3.12) in .device-sim/whl-X.Y. `make test` builds both first (`python -m
x2softmax.gpucheck.image build .device-sim`, the registry's only use); the tests need no network.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from x2softmax.gpucheck import image, needs

REPO = Path(__file__).resolve().parents[2]
SIM = REPO / ".device-sim"
SCRIPT = REPO / "tools" / "device-gpu-check.sh"
BUILD = f"make test builds it first ({sys.executable} -m x2softmax.gpucheck.image build {SIM}, needs the registry)"


def _top_level(dist: md.Distribution) -> set[str]:
    """The entries a distribution puts directly in site-packages (packages, modules, .pth files, dist-info)."""
    return {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")} - {"__pycache__"}


def seed_device_venv(root: Path, seeded: Path) -> Path:
    """A venv at `root` linking `seeded`'s distributions, then this environment's other machine ones; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    machine, linked = needs.device_packages(), set()
    for dist in [*md.distributions(path=[str(seeded)]), *md.distributions()]:
        name = needs.canonical(dist.metadata["Name"])
        if name not in machine or name in linked:
            continue
        linked.add(name)
        here = Path(str(dist.locate_file("")))
        for entry in _top_level(dist):
            link = site / entry
            if not link.exists() and (here / entry).exists():
                link.symlink_to(here / entry)
    return python


def _device_python(tmp_path_factory, which: str) -> Path:
    if not (SIM / which).is_dir():
        pytest.fail(f"{SIM / which}: no simulated image: {BUILD}")
    return seed_device_venv(tmp_path_factory.mktemp(f"device-{which}") / "venv", SIM / which)


@pytest.fixture(scope="session")
def device_python(tmp_path_factory) -> Path:
    """The simulated machine's python3, image 'newest' (see the module docstring)."""
    return _device_python(tmp_path_factory, "newest")


@pytest.fixture(scope="session")
def device_python_oldest(tmp_path_factory) -> Path:
    """The simulated machine's python3, image 'oldest' (see the module docstring)."""
    return _device_python(tmp_path_factory, "oldest")


@pytest.fixture(scope="session")
def device_bundle() -> Path:
    """The wheel bundle for this interpreter (read-only for tests: copy it to change it)."""
    out = SIM / f"whl-{image.python_version()}"
    if not any(out.glob("*.whl")):
        pytest.fail(f"{out}: no wheel bundle: {BUILD}")
    return out


@pytest.fixture(scope="session")
def device_environment() -> Callable[[Path, Path, Path], dict[str, str]]:
    """device_env, for tests (helpers here are reached through fixtures)."""
    return device_env


def device_env(python: Path, wheels: Path, site: Path) -> dict[str, str]:
    """The environment of a device call: the simulated python first on PATH, nothing of this venv, no index."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_"))}
    return {**keep, "PYTHON": str(python), "WHEELS": str(wheels), "SITE": str(site),
            "PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin", "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": os.devnull, "HOME": str(site.parent)}


@pytest.fixture(scope="session")
def device_call(device_environment):
    """Run the device script (first arg --dry, then OUT, then gpu-check options); (process, its one JSON line)."""
    def call(python: Path, wheels: Path, site: Path, out: Path, *args: str, timeout: float = 1500,
             budget: int = 1200):
        # CPU budgets: the smoke workflow gets 0.6 x 1200 s for its two calls (its GPU cap is 240 s)
        env = {**device_environment(python, wheels, site), "BUDGET_S": str(budget),
               "HARD_LIMIT_S": str(budget + 200)}
        done = subprocess.run([str(SCRIPT), *args[:1], str(out), *args[1:]], cwd=REPO, capture_output=True,
                              text=True, env=env, timeout=timeout)
        lines = done.stdout.strip().splitlines()
        assert len(lines) == 1, done.stdout[-2000:] + done.stderr[-2000:]  # one JSON line on stdout
        return done, json.loads(lines[0])
    return call


def _versions(python: Path, names: list[str], env: dict[str, str]) -> dict[str, str]:
    """name -> version of `names` as the simulated python sees them."""
    code = "import importlib.metadata as md, sys; print(*(md.version(n) for n in sys.argv[1:]))"
    done = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True, env=env, check=True)
    return dict(zip(names, done.stdout.split()))


@pytest.fixture(scope="session")
def device_versions() -> Callable[[Path, list[str], dict[str, str]], dict[str, str]]:
    """_versions, for tests."""
    return _versions
