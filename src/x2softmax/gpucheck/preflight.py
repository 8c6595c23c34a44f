"""The device preflight: one line saying what this Python lacks for the GPU check, then the missing wheels added.

`python3 -m x2softmax.gpucheck.preflight --wheels .whl --site DIR` (tools/device-gpu-check.sh calls it): checks torch
(and, unless --dry, that it sees a CUDA GPU), walks the check's requirements (x2softmax.gpucheck.needs) through what
is installed, prints one line naming what is missing or at an incompatible version, installs from the wheel folder
only the wheels of those distributions (`pip install --no-index --no-deps --target DIR`, nothing from the network),
and checks again. Exit 0 when everything is there, 2 naming what is still missing (e.g. the wheel that is not in the
folder). Imports only the standard library and `packaging`, so it runs on the bare machine.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import subprocess
import sys
from pathlib import Path

from x2softmax.gpucheck import needs as N


def _torch_line(dry: bool) -> tuple[str, str | None]:
    """(description of torch here, problem or None)."""
    try:
        import torch
    except ImportError as err:
        return "torch: not importable", f"torch cannot be imported ({err})"
    if dry:
        return f"torch {torch.__version__} (dry: CPU)", None
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} without CUDA", "torch sees no CUDA GPU (use --dry for the CPU)"
    return f"torch {torch.__version__} with CUDA ({torch.cuda.get_device_name(0)})", None


def problems(pyproject: Path, wheels: dict[str, Path] | None = None) -> tuple[list[str], list[str]]:
    """(missing distributions, 'name version (needs spec, for parents)' entries) of the check on this sys.path.

    What is not installed is walked through its wheel's metadata when `wheels` has one (so the first line names
    everything the bundle must add, not only the top-level requirements).
    """
    importlib.invalidate_caches()
    version = ".".join(map(str, sys.version_info[:3]))
    found = wheels or {}

    def requires(name: str) -> list[str] | None:
        here = N.installed_requires(name)
        return here if here is not None or name not in found else N.wheel_requires(found[name])

    walked = N.walk(N.check_requirements(pyproject), version, N.device_packages(), requires)
    missing, incompatible = [], []
    for name, need in sorted(walked.items()):
        if name in N.LEFT_OUT:
            continue
        dist = N.installed(name)
        if dist is None:
            missing.append(name)
        elif not need.admits(dist.version):
            incompatible.append(f"{name} {dist.version} (needs {need.specifier} for {', '.join(need.required_by)})")
    return missing, incompatible


def wheel_files(folder: Path) -> dict[str, Path]:
    """Canonical name -> wheel file of a wheel folder (empty when there is none)."""
    return {N.wheel_name(w)[0]: w for w in sorted(folder.glob("*.whl"))} if folder.is_dir() else {}


def _names(entries: list[str]) -> list[str]:
    return [entry.split(" ", 1)[0] for entry in entries]


def run(pyproject: Path, wheels: Path, site: Path, dry: bool) -> int:
    """Preflight line, install of what is missing, check again; the exit status."""
    described, torch_problem = _torch_line(dry)
    found = wheel_files(wheels)
    missing, incompatible = problems(pyproject, found)
    head = f"preflight: Python {platform.python_version()}, {described}"
    print(f"{head}; missing {len(missing)}: {', '.join(missing) or 'none'}; incompatible: "
          f"{'; '.join(incompatible) or 'none'}", flush=True)
    if torch_problem:
        print(f"preflight: FAILED: {torch_problem}", flush=True)
        return 2
    todo = missing + _names(incompatible)
    if not todo:
        return 0
    files, absent = [found[n] for n in todo if n in found], [n for n in todo if n not in found]
    if absent:
        print(f"preflight: FAILED: no wheel in {wheels} for: {', '.join(absent)} (make wheels, here, makes them)",
              flush=True)
        return 2
    site.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                           "--no-cache-dir", "--upgrade", "--target", str(site), *map(str, files)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        print(f"preflight: FAILED: pip install --target {site}: {done.stderr.strip()[-500:]}", flush=True)
        return 2
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    missing, incompatible = problems(pyproject)
    if missing or incompatible:
        print(f"preflight: FAILED after installing {len(files)} wheels: missing {', '.join(missing) or 'none'}; "
              f"incompatible: {'; '.join(incompatible) or 'none'}", flush=True)
        return 2
    print(f"preflight: ok: {len(files)} wheels from {wheels} installed in {site}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line of the preflight (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="python3 -m x2softmax.gpucheck.preflight", description=__doc__)
    parser.add_argument("--wheels", type=Path, default=Path(".whl"), help="the wheel folder (make wheels)")
    parser.add_argument("--site", type=Path, required=True, help="where missing wheels are installed (--target)")
    parser.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"))
    parser.add_argument("--dry", action="store_true", help="the CPU is enough (gpu-check --dry)")
    args = parser.parse_args(argv)
    site = args.site.resolve()
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))  # an earlier install there counts
    return run(args.pyproject, args.wheels, site, args.dry)


if __name__ == "__main__":
    sys.exit(main())
