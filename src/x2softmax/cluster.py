"""Slurm requests against the cluster: job kinds no node of their partition can run, and jobs that wait for ever.

Slurm accepts a job asking more CPUs (or GPUs) than any node of its partition has and leaves it PENDING with reason
`PartitionConfig` for ever, while Snakemake's Slurm executor waits without a word. `oversized` compares each job
kind's request (partition, CPUs, memory, GPUs, time) with the partition's nodes as `sinfo` reports them, before
anything is submitted (the workflow's start under the slurm executor, and `x2softmax cluster-check`); `stuck_jobs`
reads `squeue` while the run goes on and names the jobs pending for a reason that will not clear by waiting.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

# Rules whose jobs run where Snakemake runs, never submitted (`localrule:` in workflow/rules; Snakemake's dry run
# does not say which rules are local, so the plan reads it here): downloads need the network and the shared root.
SUBMIT_HOST_RULES = frozenset({"fetch_dataset"})
# sinfo, one line per node and partition: partition (default one marked '*'), CPUs, memory (MB), gres, time limit.
SINFO_FORMAT = "%P|%c|%m|%G|%l"
# squeue of pending jobs: id, comment (the executor's rule_<name>...), reason, working directory.
SQUEUE_FORMAT = "%i|%k|%r|%Z"
# Pending reasons that waiting does not clear: the request exceeds what the partition, its nodes, the account or
# the QOS allow, or names something that does not exist.
NEVER_CLEAR = ("PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "BadConstraints", "InvalidAccount",
               "InvalidQOS", "QOSMaxCpuPerJobLimit", "QOSMaxGRESPerJob", "QOSMaxMemoryPerJob",
               "QOSMaxWallDurationPerJobLimit", "AssocMaxWallDurationPerJobLimit", "AssocMaxCpuPerJobLimit")


class ClusterError(RuntimeError):
    """The cluster cannot be asked (no sinfo, sinfo failed) or cannot run a job kind."""


@dataclass(frozen=True)
class Request:
    """What one kind of job asks Slurm for (partition None: the cluster's default partition)."""

    kind: str
    partition: str | None
    cpus: int
    mem_mb: int
    gpus: int
    runtime_min: int


@dataclass(frozen=True)
class Node:
    """One node of one partition as sinfo reports it (time_limit_min None: no limit)."""

    cpus: int
    mem_mb: int
    gpus: int
    time_limit_min: int | None


def cpus_of(resources: Mapping[str, object], threads: int) -> int:
    """CPUs the Slurm executor requests: the cpus_per_task resource, else the job's threads (at least 1)."""
    value = resources.get("cpus_per_task")
    return max(1, int(value) if value not in (None, "", "<TBD>") else int(threads))


def time_minutes(text: str) -> int | None:
    """A Slurm time ('infinite', 'D-HH:MM:SS', 'HH:MM:SS', 'MM:SS', 'MM') in minutes; None when unlimited."""
    text = text.strip()
    if text.lower() in ("infinite", "unlimited", "n/a", ""):
        return None
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    hours, minutes, seconds = {1: (0, parts[0], 0), 2: (0, *parts), 3: tuple(parts)}[len(parts)]
    return (int(days or 0) * 24 + hours) * 60 + minutes + (1 if seconds else 0)


def gres_gpus(text: str) -> int:
    """GPUs in a gres string ('gpu:2', 'gpu:a100:4(S:0-1)', 'gpu:2,shard:4', '(null)')."""
    total = 0
    for item in re.sub(r"\(.*?\)", "", text).split(","):
        fields = item.strip().split(":")
        if fields[0] == "gpu" and len(fields) > 1 and fields[-1].isdigit():
            total += int(fields[-1])
    return total


def parse_sinfo(text: str) -> tuple[dict[str, list[Node]], str | None]:
    """Nodes per partition from `sinfo -h -N -o SINFO_FORMAT`, and the default partition (None if none is marked)."""
    partitions: dict[str, list[Node]] = {}
    default = None
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 5:
            raise ClusterError(f"sinfo: unexpected line {line!r} (expected {SINFO_FORMAT})")
        name, cpus, mem, gres, limit = (f.strip() for f in fields)
        if name.endswith("*"):
            name = default = name[:-1]
        partitions.setdefault(name, []).append(
            Node(int(cpus.rstrip("+")), int(mem.rstrip("+")), gres_gpus(gres), time_minutes(limit)))
    return partitions, default


def read_partitions(run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
                    ) -> tuple[dict[str, list[Node]], str | None]:
    """The cluster's partitions and their nodes, asked of sinfo."""
    if shutil.which("sinfo") is None and run is subprocess.run:
        raise ClusterError("cluster-check: sinfo is not on PATH (run this on the cluster's login node)")
    proc = run(["sinfo", "-h", "-N", "-o", SINFO_FORMAT], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise ClusterError(f"cluster-check: sinfo failed: {proc.stderr.strip()[:300]}")
    return parse_sinfo(proc.stdout)


def oversized(requests: Iterable[Request], partitions: Mapping[str, list[Node]], default: str | None) -> list[str]:
    """One line per job kind that no node of its partition can run, naming the kind, partition and numbers."""
    problems = []
    for req in requests:
        name = req.partition or default
        nodes = partitions.get(name or "", [])
        if not nodes:
            known = ", ".join(sorted(partitions)) or "none"
            problems.append(f"job kind {req.kind!r}: partition {name!r} does not exist (partitions: {known})")
            continue
        if any(_fits(req, node) for node in nodes):
            continue
        largest = Node(max(n.cpus for n in nodes), max(n.mem_mb for n in nodes), max(n.gpus for n in nodes),
                       None if any(n.time_limit_min is None for n in nodes)
                       else max(n.time_limit_min for n in nodes))  # type: ignore[type-var]
        over = [f"{what} {asked} > {offered}" for what, asked, offered in (
            ("CPUs", req.cpus, largest.cpus), ("memory MB", req.mem_mb, largest.mem_mb),
            ("GPUs", req.gpus, largest.gpus), ("time min", req.runtime_min, largest.time_limit_min))
            if offered is not None and asked > offered]
        detail = ", ".join(over) if over else "each fits some node, but no node offers all of them at once"
        problems.append(f"job kind {req.kind!r} asks partition {name!r} for {req.cpus} CPUs, {req.mem_mb} MB, "
                        f"{req.gpus} GPUs, {req.runtime_min} min; no node there offers that ({detail})")
    return problems


def _fits(req: Request, node: Node) -> bool:
    return (req.cpus <= node.cpus and req.mem_mb <= node.mem_mb and req.gpus <= node.gpus
            and (node.time_limit_min is None or req.runtime_min <= node.time_limit_min))


def number(value: object) -> int:
    """A resource value as an integer (0 for '<TBD>' or a missing value)."""
    return int(value) if isinstance(value, (int, float)) or str(value).isdigit() else 0


def job_requests(jobs: Iterable[object]) -> list[Request]:
    """The requests of Snakemake jobs the executor submits (local rules excluded), as it turns them into sbatch."""
    requests = []
    for job in jobs:
        if getattr(job, "is_local", False) or getattr(job, "is_norun", False):
            continue
        res = job.resources  # type: ignore[attr-defined]
        requests.append(Request(job.rule.name, res.get("slurm_partition") or None,  # type: ignore[attr-defined]
                                cpus_of(res, job.threads), number(res.get("mem_mb", 0)),  # type: ignore[attr-defined]
                                number(res.get("gpu", 0)), number(res.get("runtime", 0))))
    return requests


def kind_requests(requests: Iterable[Request]) -> list[Request]:
    """One request per job kind and partition: the largest numbers any of its jobs asks."""
    merged: dict[tuple[str, str | None], Request] = {}
    for req in requests:
        key = (req.kind, req.partition)
        if (old := merged.get(key)) is not None:
            req = Request(req.kind, req.partition, max(old.cpus, req.cpus), max(old.mem_mb, req.mem_mb),
                          max(old.gpus, req.gpus), max(old.runtime_min, req.runtime_min))
        merged[key] = req
    return list(merged.values())


def stuck_jobs(squeue_text: str, workdir: str) -> list[tuple[str, str, str]]:
    """(job id, comment, reason) of this workflow's pending jobs (run from `workdir`) whose reason never clears."""
    stuck = []
    for line in squeue_text.splitlines():
        fields = line.split("|")
        if len(fields) != 4:
            continue
        job_id, comment, reason, where = (f.strip() for f in fields)
        if os.path.realpath(where) != os.path.realpath(workdir) or not comment.startswith("rule_"):
            continue
        if reason.startswith(NEVER_CLEAR) or re.fullmatch(r"ReqNodeNotAvail(, UnavailableNodes:)?", reason):
            stuck.append((job_id, comment, reason))
    return stuck


def watch_pending(report: Callable[[str], None], workdir: str, interval_s: float = 60.0,
                  run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> threading.Event:
    """Check squeue every `interval_s` s in a daemon thread and report each stuck job once; set the event to stop."""
    stop = threading.Event()
    seen: set[str] = set()
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or ""

    def loop() -> None:
        while not stop.wait(interval_s):
            cmd = ["squeue", "-h", "-t", "PD", "-o", SQUEUE_FORMAT] + (["-u", user] if user else [])
            try:
                proc = run(cmd, capture_output=True, text=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                continue
            for job_id, comment, reason in stuck_jobs(proc.stdout, workdir):
                if job_id not in seen:
                    seen.add(job_id)
                    report(f"Slurm job {job_id} ({comment}) is pending for {reason}, which waiting will not clear: "
                           f"`scontrol show job {job_id}` shows its request; cancel it (scancel {job_id}) and "
                           "fix the settings block of the Slurm profile")

    threading.Thread(target=loop, name="x2softmax-squeue-watch", daemon=True).start()
    return stop
