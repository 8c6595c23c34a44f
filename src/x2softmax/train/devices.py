"""GPUs of a job: leased with one file lock per device and host on one machine, or taken as a scheduler gave them.

Leases (`lease_gpus`) exist for jobs that share one machine's GPUs without a scheduler: the jobs of a local
Snakemake run (which sets X2S_GPU_LEASE=1 and X2S_GPU_LEASE_JOB for their shell commands, workflow/rules/common.smk).
A job whose devices were assigned from outside (a Slurm job, a Kubernetes pod, a CUDA_VISIBLE_DEVICES set by the
user) uses the devices it was given and takes no lock: device ids there are job-local (every job may see its GPU
as 0), so a lock keyed by them would make unrelated jobs wait for one another.

The decision rests on what the job itself sees. Inside a scheduler's job, X2S_GPU_LEASE=1 counts only when it was
set in that same job (X2S_GPU_LEASE_JOB names it: a local Snakemake run inside one allocation); a value inherited
from the submitting shell (sbatch --export=ALL) is ignored, and the decision line says so.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import os
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import filelock

LOCK_DIR_ENV = "X2S_GPU_LOCK_DIR"
LEASE_ENV = "X2S_GPU_LEASE"
LEASE_JOB_ENV = "X2S_GPU_LEASE_JOB"  # the scheduler job in which X2S_GPU_LEASE=1 was set ('' outside any)
GPUS_ENV = "X2S_GPUS"
# Environment variables that say a scheduler placed this process (and gave it its devices), and the variable naming
# the job (a Kubernetes pod's HOSTNAME is its pod name).
SCHEDULERS = {"SLURM_JOB_ID": "Slurm", "KUBERNETES_SERVICE_HOST": "Kubernetes"}
SCHEDULER_JOB = {"SLURM_JOB_ID": "SLURM_JOB_ID", "KUBERNETES_SERVICE_HOST": "HOSTNAME"}


def default_lock_dir() -> Path:
    """Lock folder of this host: ($X2S_GPU_LOCK_DIR or ~/.cache/x2softmax/gpu-locks)/<hostname>[/<scheduler job>].

    Inside a scheduler's job (a local run in one allocation) device ids are job-local: the job names the folder.
    """
    env = os.environ.get(LOCK_DIR_ENV)
    base = Path(env) if env else Path.home() / ".cache" / "x2softmax" / "gpu-locks"
    job = scheduler_job()
    return base / socket.gethostname() / job.replace(" ", "-") if job else base / socket.gethostname()


def visible_devices() -> list[int]:
    """Device ids this process may use: CUDA_VISIBLE_DEVICES if set, else every GPU ([] without one).

    Counting goes through NVML (torch.cuda.device_count) so the CUDA driver is not initialised here and a
    CUDA_VISIBLE_DEVICES set after the lease still takes effect in this process.
    """
    count = _device_count()
    if count == 0:
        return []
    env = os.getenv("CUDA_VISIBLE_DEVICES")
    if env is None:
        return list(range(count))
    try:
        return [int(part) for part in env.split(",") if part.strip()][:count]
    except ValueError as err:
        raise ValueError(f"CUDA_VISIBLE_DEVICES={env!r}: expected comma-separated integer device ids") from err


def gpu_build(version_file: Path) -> bool:
    """Whether the torch whose torch/version.py this is was built for CUDA or ROCm (its `cuda` or `hip` is set), read
    without importing torch; True where the file does not say."""
    try:
        tree = ast.parse(version_file.read_text(encoding="utf-8"), str(version_file))
    except (OSError, SyntaxError, ValueError):
        return True
    values = {}
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else \
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if isinstance(target, ast.Name) and node.value is not None:
            try:
                values[target.id] = ast.literal_eval(node.value)
            except ValueError:
                values[target.id] = "unknown"
    return any(values.get(key, "unknown") is not None for key in ("cuda", "hip"))


def _device_count() -> int:
    """torch.cuda.device_count(); 0 without importing torch where the installed torch is built for neither CUDA nor
    ROCm: a local run's Snakefile asks this in its main process (machine_gpus), where importing torch costs 1.6
    CPU-s. Where torch is imported already, it is asked (as its tests fake a device count)."""
    if "torch" not in sys.modules:
        spec = importlib.util.find_spec("torch")
        if spec is not None and spec.origin is not None and not gpu_build(Path(spec.origin).parent / "version.py"):
            return 0
    import torch  # here, not at import: a local run's Snakefile reads this module in every Snakemake process

    return torch.cuda.device_count()


def machine_gpus() -> int:
    """GPUs that local jobs share: $X2S_GPUS if set, else the GPUs this process sees (honouring CUDA_VISIBLE_DEVICES)."""
    env = os.environ.get(GPUS_ENV)
    if env is None:
        return len(visible_devices())
    if not env.strip().isdigit():
        raise ValueError(f"{GPUS_ENV}={env!r}: expected a number of GPUs (0 or more)")
    return int(env)


def scheduler_job(environ: Mapping[str, str] | None = None) -> str:
    """The scheduler job this process runs in ('Slurm 17', 'Kubernetes <pod>'), or '' outside any scheduler."""
    env = os.environ if environ is None else environ
    for var, name in SCHEDULERS.items():
        if var in env:
            return f"{name} {env.get(SCHEDULER_JOB[var], '')}".strip()
    return ""


def lease_decision(environ: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """Who gave this process its GPUs (None: lease them with file locks) and one line saying why.

    X2S_GPU_LEASE=0 never leases. A scheduler's job (SLURM_JOB_ID, KUBERNETES_SERVICE_HOST) uses the devices it
    was given unless X2S_GPU_LEASE=1 was set inside that same job (X2S_GPU_LEASE_JOB equal to this job). Outside
    a scheduler, X2S_GPU_LEASE=1 leases and a CUDA_VISIBLE_DEVICES set by hand is used as given.
    """
    env = os.environ if environ is None else environ
    lease = env.get(LEASE_ENV)
    if lease not in (None, "0", "1"):
        raise ValueError(f"{LEASE_ENV}={lease!r}: expected 1 (lease GPUs with file locks) or 0 (use them as given)")
    if lease == "0":
        return LEASE_ENV + "=0", f"GPUs used as given, no lease ({LEASE_ENV}=0)"
    if job := scheduler_job(env):
        owner = job.split()[0]
        if lease == "1" and env.get(LEASE_JOB_ENV) == job:
            return None, f"GPUs leased with file locks (a local Snakemake run inside {job})"
        note = ""
        if lease == "1":
            note = (f"; {LEASE_ENV}=1 ignored: set outside this job ({LEASE_JOB_ENV}="
                    f"{env.get(LEASE_JOB_ENV, '')!r}), inherited from the submitting shell")
        return owner, f"GPUs as given by {owner} ({job}), no lease{note}"
    if lease == "1":
        return None, f"GPUs leased with file locks ({LEASE_ENV}=1)"
    if "CUDA_VISIBLE_DEVICES" in env:
        return "CUDA_VISIBLE_DEVICES", "GPUs as given by CUDA_VISIBLE_DEVICES, no lease"
    return None, "GPUs leased with file locks (no scheduler, no CUDA_VISIBLE_DEVICES)"


@contextlib.contextmanager
def lease_gpus(
    n: int,
    lock_dir: Path | None = None,
    visible: list[int] | None = None,
    timeout_s: float = 24 * 3600.0,
    poll_s: float = 5.0,
    environ: Mapping[str, str] | None = None,
) -> Iterator[list[int]]:
    """Hold `n` GPU ids for the block: the first `n` given by a scheduler, else `n` free ids locked in `lock_dir`.

    Yields [] (the CPU) when no GPU is requested or visible.
    """
    if n < 0:
        raise ValueError(f"lease_gpus: n must be >= 0, got {n}")
    owner, why = lease_decision(environ)
    print(f"x2softmax: GPU lease decision: {why}", file=sys.stderr)  # before the device count: CPU jobs show it too
    devices = visible_devices() if visible is None else list(visible)
    if n == 0 or not devices:
        print("x2softmax: no GPU requested or available, running on the CPU", file=sys.stderr)
        yield []
        return
    if n > len(devices):
        raise ValueError(f"lease_gpus: {n} GPUs requested but only {len(devices)} visible: {devices}")
    if owner is not None:
        print(f"x2softmax: GPUs {devices[:n]} as given by {owner} (no lease)", file=sys.stderr)
        yield devices[:n]
        return
    lock_dir = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    while (held := _try_lock(devices, n, lock_dir)) is None:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"lease_gpus: {n} free GPUs among {devices} not found within {timeout_s:.0f} s")
        time.sleep(poll_s)
    try:
        yield sorted(held)
    finally:
        for lock in held.values():
            lock.release()


@contextlib.contextmanager
def gpu_environment(n: int) -> Iterator[list[int]]:
    """Lease `n` GPUs (lease_gpus) and expose only them through CUDA_VISIBLE_DEVICES for the block."""
    with lease_gpus(n) as devices:
        previous = os.getenv("CUDA_VISIBLE_DEVICES")
        if devices:
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(d) for d in devices)
        try:
            yield devices
        finally:
            if previous is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = previous


def _try_lock(devices: list[int], n: int, lock_dir: Path) -> dict[int, filelock.BaseFileLock] | None:
    """Lock `n` of `devices` at once, or none (all-or-nothing, so two waiting jobs cannot deadlock)."""
    held: dict[int, filelock.BaseFileLock] = {}
    for device in devices:
        lock = filelock.FileLock(str(lock_dir / f"gpu{device}.lock"))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            continue
        held[device] = lock
        if len(held) == n:
            return held
    for lock in held.values():
        lock.release()
    return None
