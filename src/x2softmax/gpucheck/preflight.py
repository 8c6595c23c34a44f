"""The device preflight: one line saying what the bundle adds to this Python, then the bundle first on the path.

`python3 -m x2softmax.gpucheck.preflight --wheels .whl --site DIR` (tools/device-gpu-check.sh calls it): checks torch
(and, unless --dry, that it sees a CUDA GPU), walks the check's requirements (x2softmax.gpucheck.needs) through the
bundle's wheels and what is installed, prints one line naming what the bundle adds (and which of the image's own
versions it shadows), installs every carried wheel the check needs (`pip install --no-index --no-deps --target DIR`,
nothing from the network; DIR comes first on the path), and checks again. A needed distribution that neither the
image nor the bundle has stops it (exit 2, one line naming the wheel to add); a range that a distribution taken from
the image does not meet is a warning naming it (the check runs: the simulations in tests/gpucheck show which
versions work). Imports only the standard library and `packaging`, so it runs on the bare machine.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import subprocess
import sys
from pathlib import Path

from packaging.version import Version

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


def _spec(need: N.Need) -> str:
    return f"needs {need.specifier or 'any'} for {', '.join(sorted(set(need.required_by)))}"


def needed(pyproject: Path, wheels: dict[str, Path]) -> dict[str, N.Need]:
    """The check's needs on this sys.path, walked through the bundle's wheel metadata where it carries one."""
    importlib.invalidate_caches()

    def requires(name: str) -> list[str] | None:
        return N.wheel_requires(wheels[name]) if name in wheels else N.installed_requires(name)

    walked = N.walk(N.check_requirements(pyproject), ".".join(map(str, sys.version_info[:3])),
                    set(N.FROM_THE_IMAGE), requires)
    return {name: need for name, need in walked.items() if name not in N.LEFT_OUT}


def unmet(walked: dict[str, N.Need]) -> tuple[list[str], list[str]]:
    """(absent 'name (needs ...)' entries, 'name version (needs ...)' entries whose range is not met) on sys.path."""
    absent, outside = [], []
    for name, need in sorted(walked.items()):
        dist = N.installed(name)
        if dist is None:
            absent.append(f"{name} ({_spec(need)})")
        elif not need.admits(dist.version):
            outside.append(f"{name} {dist.version} ({_spec(need)})")
    return absent, outside


def wheel_files(folder: Path) -> dict[str, Path]:
    """Canonical name -> wheel file of a wheel folder (empty when there is none)."""
    return {N.wheel_name(w)[0]: w for w in sorted(folder.glob("*.whl"))} if folder.is_dir() else {}


def _shadowed(names: list[str], wheels: dict[str, Path]) -> list[str]:
    """'name image-version -> bundle-version' for the carried distributions the image has too."""
    here = {name: N.installed(name) for name in names}
    return [f"{name} {dist.version} -> {N.wheel_name(wheels[name])[1]}" for name, dist in here.items() if dist]


def run(pyproject: Path, wheels: Path, site: Path, dry: bool) -> int:
    """Preflight line, install of the bundle, check again; the exit status (0 with warnings, 2 on a miss)."""
    described, torch_problem = _torch_line(dry)
    found = wheel_files(wheels)
    walked = needed(pyproject, found)
    carry = sorted(name for name in walked if name in found and N.carried(name))
    absent, _ = unmet({name: need for name, need in walked.items() if name not in carry})
    shadowed = _shadowed(carry, found)
    print(f"preflight: Python {platform.python_version()}, {described}; the bundle adds {len(carry)} "
          f"({', '.join(carry) or 'none'}), {len(shadowed)} of them over the image's own "
          f"({', '.join(shadowed) or 'none'}); in neither: {', '.join(absent) or 'none'}", flush=True)
    if torch_problem:
        print(f"preflight: FAILED: {torch_problem}", flush=True)
        return 2
    if absent:
        tag, noun = f"cp{sys.version_info.major}{sys.version_info.minor}", "wheel" if len(absent) == 1 else "wheels"
        print(f"preflight: FAILED: neither this Python nor {wheels} has {'; '.join(absent)}: add the {tag} {noun} to "
              f"{wheels} (make wheels, here, makes them)", flush=True)
        return 2
    if carry:
        site.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                               "--no-cache-dir", "--upgrade", "--target", str(site), *(str(found[n]) for n in carry)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"preflight: FAILED: pip install --target {site}: {done.stderr.strip()[-500:]}", flush=True)
            return 2
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    absent, outside = unmet(needed(pyproject, {}))
    bundled = {name: N.wheel_name(found[name])[1] for name in carry}
    not_first = [f"{name} {dist.version} (the bundle's is {bundled[name]})" for name in carry
                 if (dist := N.installed(name)) is not None and Version(dist.version) != Version(bundled[name])]
    if absent or not_first:
        print(f"preflight: FAILED after installing {len(carry)} wheels in {site}: missing "
              f"{'; '.join(absent) or 'none'}; not taken from {site}: {'; '.join(not_first) or 'none'}", flush=True)
        return 2
    print(f"preflight: ok: {len(carry)} wheels from {wheels} installed in {site}, first on the path; warnings (a range"
          f" not met, the check goes on): {'; '.join(outside) or 'none'}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line of the preflight (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="python3 -m x2softmax.gpucheck.preflight", description=__doc__)
    parser.add_argument("--wheels", type=Path, default=Path(".whl"), help="the wheel folder (make wheels)")
    parser.add_argument("--site", type=Path, required=True, help="where the bundle is installed (--target)")
    parser.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"))
    parser.add_argument("--dry", action="store_true", help="the CPU is enough (gpu-check --dry)")
    args = parser.parse_args(argv)
    site = args.site.resolve()
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))  # an earlier install there counts
    return run(args.pyproject, args.wheels, site, args.dry)


if __name__ == "__main__":
    sys.exit(main())
