"""A one-node Slurm cluster for the integration test: munged, slurmctld and slurmd of this machine's Debian packages,
started as root in a temporary folder with two fake GPUs, and stopped by process id.

The node is this machine as it is: its CPU count (os.cpu_count()) and its memory (slurmd -C), with Slurm's default
timings (MinJobAge 300 s, the default scheduler interval), as the users of docs/clusters.md have them. Slurm refuses plain
files and count-only gres for GPUs, so each fake GPU is a character device made with mknod (the major/minor numbers
of /dev/null: nothing reads it). Two partitions on the one node stand for a cluster's CPU and GPU partitions.
Accounting is off (no slurmdbd), as on the clusters where sacct fails.

Clients find the cluster's private configuration through SLURM_CONF, set by wrapper scripts (`bin_dir`, put first
on PATH) around each client: the executor plugin's job step drops every SLURM_* variable from the commands it runs
(its srun included), and a wrapper on PATH survives that. Nothing under /etc is touched, so a machine with a Slurm
of its own keeps it. `unavailable` says why the cluster cannot start; the test then fails with that reason.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "sinfo", "srun", "scancel")
CPU_PARTITION = "x2cpu"
GPU_PARTITION = "x2gpu"
NODE = "x2snode"
CLIENTS_WRAPPED = CLIENTS + ("sacct", "salloc", "sacctmgr")
NODE_CPUS = os.cpu_count() or 1  # the machine's real CPU count


def unavailable() -> str | None:
    """Why this machine cannot run the cluster (one line for the test's failure), or None."""
    missing = [tool for tool in DAEMONS + CLIENTS if shutil.which(tool) is None]
    if missing:
        return (f"Slurm/munge not installed ({', '.join(missing)} missing): `make test` installs them as root "
                "(.ci/install-slurm); the Slurm test cannot run")
    if os.geteuid() != 0:
        return "the Slurm test starts munged/slurmd and makes device nodes: it needs root"
    return None


def real_memory_mb() -> int:
    """This machine's memory as slurmd measures it (slurmd -C: RealMemory)."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=60).stdout
    for field in out.split():
        if field.startswith("RealMemory="):
            return int(field.split("=", 1)[1])
    raise RuntimeError(f"slurmd -C printed no RealMemory: {out!r}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SlurmCluster:
    """munged + slurmctld + slurmd in `root`; clients reach it through the wrappers in `bin_dir` (SLURM_CONF)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen[bytes]] = []
        self.conf = root / "slurm.conf"
        self.bin_dir = root / "bin"
        self.memory_mb = 0
        self.records: dict[str, dict[str, str]] = {}  # every job seen by scontrol, by id (latest fields)
        self._stop_recording = threading.Event()
        self._recorder: threading.Thread | None = None

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (default os.environ) with this cluster's clients first on PATH and SLURM_CONF set."""
        environ = dict(os.environ if base is None else base)
        environ["PATH"] = f"{self.bin_dir}{os.pathsep}{environ.get('PATH', '')}"
        environ["SLURM_CONF"] = str(self.conf)
        return environ

    def _write_wrappers(self) -> None:
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        for tool in CLIENTS_WRAPPED:
            if (real := shutil.which(tool)) is None:
                continue
            wrapper = self.bin_dir / tool
            wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{real}" "$@"\n')
            wrapper.chmod(0o755)

    def _write_config(self) -> None:
        root = self.root
        for sub in ("munge", "state", "spool", "log", "dev"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "munge").chmod(0o700)
        key = root / "munge/munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o400)
        for i in range(2):
            os.mknod(root / f"dev/gpu{i}", 0o666 | 0o020000, os.makedev(1, 3))  # S_IFCHR, like /dev/null
        (root / "gres.conf").write_text(f"NodeName={NODE} Name=gpu File={root}/dev/gpu[0-1]\n")
        self.memory_mb = real_memory_mb()
        self.conf.write_text("\n".join([
            "ClusterName=x2stest",
            "SlurmctldHost=localhost(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={root}/munge/munge.sock",
            f"StateSaveLocation={root}/state",
            f"SlurmdSpoolDir={root}/spool",
            f"SlurmctldPidFile={root}/slurmctld.pid",
            f"SlurmdPidFile={root}/slurmd.pid",
            f"SlurmctldLogFile={root}/log/slurmctld.log",
            f"SlurmdLogFile={root}/log/slurmd.log",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "GresTypes=gpu",
            "MpiDefault=none",
            "MailProg=/bin/true",
            "SlurmdParameters=config_overrides",  # the declared values are the machine's; no socket layout needed
            "ReturnToService=2",
            # MinJobAge and the scheduler's timings: Slurm's defaults (300 s; sched_interval 60 s)
            f"NodeName={NODE} NodeAddr=127.0.0.1 NodeHostname={socket.gethostname()} CPUs={NODE_CPUS}"
            f" RealMemory={self.memory_mb} Gres=gpu:2 State=UNKNOWN",
            f"PartitionName={CPU_PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
            f"PartitionName={GPU_PARTITION} Nodes={NODE} MaxTime=INFINITE State=UP",
        ]) + "\n")

    def _spawn(self, *cmd: str) -> None:
        log = open(self.root / "log" / f"{Path(cmd[0]).name}.out", "wb")
        self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        log.close()

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the three daemons in the foreground of child processes and wait until the node is idle."""
        self._write_config()
        self._write_wrappers()
        root = self.root
        self._spawn("munged", "--foreground", "--force", f"--key-file={root}/munge/munge.key",
                    f"--socket={root}/munge/munge.sock", f"--pid-file={root}/munge/munged.pid",
                    f"--seed-file={root}/munge/seed", f"--log-file={root}/log/munged.log")
        self._wait(lambda: (root / "munge/munge.sock").exists(), timeout_s, "munged")
        self._spawn("slurmctld", "-D", "-f", str(self.conf))
        self._spawn("slurmd", "-D", "-f", str(self.conf), "-N", NODE)
        self._wait(lambda: self.node_state() == "idle", timeout_s, "the node to be idle")
        self._recorder = threading.Thread(target=self._record, name="slurm-job-recorder", daemon=True)
        self._recorder.start()

    def _record(self, interval_s: float = 3.0) -> None:
        """Keep every job scontrol shows (finished ones vanish after MinJobAge): the test checks them all."""
        while True:
            for job in self.jobs():
                self.records[job["JobId"]] = job
            if self._stop_recording.wait(interval_s):
                return

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            dead = [p.args[0] for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"waiting for {what}: {'exited: ' + ', '.join(dead) if dead else 'timed out'}\n"
                                   + self.logs())
            time.sleep(0.5)

    def node_state(self) -> str:
        """sinfo's state of the node ('idle', 'mixed', ...; '' when slurmctld does not answer)."""
        proc = self.run("sinfo", "-h", "-n", NODE, "-o", "%T", check=False)
        return proc.stdout.strip().rstrip("*") if proc.returncode == 0 else ""

    def run(self, *cmd: str, check: bool = True, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """A Slurm client command against this cluster."""
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=60, env=self.env(env))

    def jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld knows (scontrol show job, one dict of fields per job)."""
        out = self.run("scontrol", "show", "job", "-o", check=False).stdout
        jobs = []
        for line in out.splitlines():
            if line.startswith("JobId="):
                fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
                jobs.append(fields)
        return jobs

    def logs(self) -> str:
        """The tail of every daemon log (for failure messages)."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                         for p in sorted((self.root / "log").glob("*")) if p.is_file())

    def stop(self) -> None:
        """Cancel every job, then stop the daemons this object started, by process id (SIGTERM, then SIGKILL)."""
        self._stop_recording.set()
        if self._recorder is not None:
            self._recorder.join(timeout=30)
        if any(p.poll() is None for p in self.procs):
            self.run("scancel", "--user", getpass.getuser(), check=False)
            deadline = time.monotonic() + 15
            while self.run("squeue", "-h", "-t", "RUNNING,COMPLETING", check=False).stdout.strip() \
                    and time.monotonic() < deadline:
                time.sleep(0.5)
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
