"""Where the numbers were produced: `results/environment.json`, written by the rule `environment` right after the
training and evaluation jobs (the commit of the sources, the machine, CPU model and instruction set, threads, the CPU
code paths torch's libraries were pinned to and the versions of every library that touches the numbers), the commit
the pages' sources were last changed at and the resolved configuration's hash. Page footers and the index read them."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from x2softmax.cpukernels import code_path_environment, pinned_setting
from x2softmax.io import atomic_write_json

# The libraries whose versions can change a number (the lock file, requirements.lock, pins them).
NUMERIC_LIBRARIES = ("torch", "numpy", "opencv-python-headless", "pillow", "scipy", "pandas", "scikit-learn")
# The instruction-set extensions that select different numeric kernels (recorded when the CPU reports them).
CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
             "amx_tile", "amx_bf16", "asimd", "sve")
ENVIRONMENT = "environment.json"
# Paths whose changes make a commit's pages differ (the rest of a dirty tree, e.g. reports/, does not).
SOURCE_PATHS = ("src", "notebooks", "workflow", "config", "Snakefile")


def git_commit(repo: Path = Path(".")) -> str:
    """The last commit that changed the sources of the pages (12 hex digits; '+ local changes' when the sources
    differ from it), or 'unknown'. Committing regenerated reports/ does not change it, so regenerating the committed
    pages from a clone gives the same bytes."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%h", "--abbrev=12", "--", *SOURCE_PATHS],
                              capture_output=True, text=True, check=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no", "--",
                                *SOURCE_PATHS], capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return head + (" + local changes" if dirty else "")


def config_hash(config_json: Path | None) -> str:
    """sha256 (16 hex digits) of the resolved configuration, canonically serialised; 'unknown' without one."""
    if config_json is None or not Path(config_json).is_file():
        return "unknown (no resolved configuration)"
    try:
        config = json.loads(Path(config_json).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{config_json}: not valid JSON ({err.msg} at line {err.lineno})") from err
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """CPU model name and the numeric instruction-set flags it reports ('unknown' where the OS does not say)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path(cpuinfo).read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "cpu model", "hardware") and model in ("unknown", platform.machine()):
                model = value.strip() or model
            elif key in ("flags", "features"):
                flags |= set(value.split())
    except OSError:
        pass
    return {"cpu_model": model, "cpu_flags": " ".join(f for f in CPU_FLAGS if f in flags) or "unknown"}


def library_versions(names: Sequence[str] = NUMERIC_LIBRARIES) -> dict[str, str]:
    """The installed version of each library of `names` ('not installed' where absent)."""
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def cpu_kernels_record() -> dict[str, Any]:
    """The CPU code paths of this process: the `cpu_kernels` pins it carries, each code-path variable as set, and
    the kernel set ATen dispatches to (the jobs of one workflow run share the environment of its shell prefix)."""
    import torch

    variables = code_path_environment()
    return {"cpu_kernels": pinned_setting(),
            "code_path_environment": " ".join(f"{k}={v}" for k, v in variables.items()) or "none set",
            "aten_cpu_capability": torch.backends.cpu.get_cpu_capability()}


def environment_record(repo: Path = Path("."), config_json: Path | None = None) -> dict[str, Any]:
    """The provenance of numbers computed now: commit, config hash (with `config_json`), machine, CPU, threads, code
    paths and library versions."""
    import torch

    config = {"config_hash": config_hash(config_json)} if config_json is not None else {}
    return {"commit": git_commit(repo), **config, "machine": platform.machine(), "system": platform.platform(),
            **cpu_info(), "cpu_count": os.cpu_count() or 0, "torch_threads": torch.get_num_threads(),
            **cpu_kernels_record(), "python": platform.python_version(), "libraries": library_versions()}


def write_environment(out: Path, repo: Path = Path("."), config_json: Path | None = None) -> Path:
    """Write environment_record() as JSON atomically."""
    atomic_write_json(Path(out), environment_record(repo, config_json))
    return Path(out)


def read_environment(results_dir: Path) -> Mapping[str, Any] | None:
    """results/environment.json, or None for results produced before it was recorded; a clear error if unreadable."""
    path = Path(results_dir) / ENVIRONMENT
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from err
    if not isinstance(record, dict) or "commit" not in record:
        raise ValueError(f"{path}: not an environment record (no 'commit')")
    return record


DIFFERENCE_FIELDS = {"config_hash": "config hash", "cpu_model": "CPU", "machine": "machine",
                     "aten_cpu_capability": "ATen kernels", "cpu_kernels": "CPU code-path pins",
                     "torch_threads": "torch threads", "cpu_count": "CPU cores", "python": "Python"}


def environment_difference(committed: Mapping[str, Any], regenerated: Mapping[str, Any]) -> list[str]:
    """What differs between two environment records, one line per field: the config hash, CPU model, instruction
    set (the flags lost and gained), threads, cores, Python and each numeric library; [] when nothing recorded
    differs."""
    lines = []
    for key, label in DIFFERENCE_FIELDS.items():
        old, new = committed.get(key), regenerated.get(key)
        if old is not None and new is not None and str(old) != str(new):
            lines.append(f"{label} {old} → {new}")
    old_flags = str(committed.get("cpu_flags", "")).split()
    new_flags = str(regenerated.get("cpu_flags", "")).split()
    if old_flags and new_flags and old_flags != new_flags:
        change = [f"−{f}" for f in old_flags if f not in new_flags] + [f"+{f}" for f in new_flags if f not in old_flags]
        lines.append("instruction set " + " ".join(change))
    old_libs, new_libs = committed.get("libraries") or {}, regenerated.get("libraries") or {}
    lines += [f"{name} {old_libs[name]} → {new_libs[name]}" for name in old_libs
              if name in new_libs and str(old_libs[name]) != str(new_libs[name])]
    return lines


def numbers_commit(results_dir: Path) -> str:
    """The commit the numbers were produced at, as a footer states it."""
    record = read_environment(results_dir)
    if record is None:
        return f"not recorded ({Path(results_dir) / ENVIRONMENT} absent: results from before the record existed)"
    return str(record["commit"])
