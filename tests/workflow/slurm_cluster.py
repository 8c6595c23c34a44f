"""A one-node Slurm cluster for the integration test: munged, slurmctld and slurmd of this machine's Debian packages,
started as root in a temporary folder with two fake GPUs, and stopped by process id.

Slurm refuses plain files and count-only gres for GPUs, so each fake GPU is a character device made with mknod
(the major/minor numbers of /dev/null: nothing reads it). Two partitions on the one node stand for a cluster's CPU
and GPU partitions. Accounting is off (no slurmdbd), as on the clusters where sacct fails.

Clients find the configuration where a cluster node has it, /etc/slurm/slurm.conf (the executor plugin's job
step drops SLURM_CONF from the environment of the commands it runs): the cluster links it to its own file while it
runs, and only on a machine that has no /etc/slurm/slurm.conf of its own.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "sinfo", "srun", "scancel")
CPU_PARTITION = "x2cpu"
GPU_PARTITION = "x2gpu"
NODE = "x2snode"
NODE_CPUS = 16  # declared (SlurmdParameters=config_overrides): profile CPU requests fit, the machine has 2 cores
NODE_MEMORY_MB = 32000
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")


def unavailable() -> str | None:
    """Why this machine cannot run the cluster (a one-line skip reason), or None."""
    missing = [tool for tool in DAEMONS + CLIENTS if shutil.which(tool) is None]
    if missing:
        return f"Slurm/munge not installed ({', '.join(missing)} missing; `make test` installs them as root)"
    if os.geteuid() != 0:
        return "the Slurm test starts munged/slurmd and makes device nodes: it needs root"
    if SYSTEM_CONF.exists() or SYSTEM_CONF.is_symlink():
        return f"{SYSTEM_CONF} exists: this machine has a Slurm of its own, the test cluster would replace it"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SlurmCluster:
    """munged + slurmctld + slurmd in `root`, the clients' configuration linked from /etc/slurm/slurm.conf."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen[bytes]] = []
        self.conf = root / "slurm.conf"
        self.linked = False

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
            "SlurmdParameters=config_overrides",
            "ReturnToService=2",
            "MinJobAge=3600",  # finished jobs stay visible to squeue/scontrol for the test's checks
            "SchedulerParameters=sched_interval=2",
            f"NodeName={NODE} NodeAddr=127.0.0.1 NodeHostname={socket.gethostname()} CPUs={NODE_CPUS}"
            f" RealMemory={NODE_MEMORY_MB} Gres=gpu:2 State=UNKNOWN",
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
        SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SYSTEM_CONF.symlink_to(self.conf)
        self.linked = True
        root = self.root
        self._spawn("munged", "--foreground", "--force", f"--key-file={root}/munge/munge.key",
                    f"--socket={root}/munge/munge.sock", f"--pid-file={root}/munge/munged.pid",
                    f"--seed-file={root}/munge/seed", f"--log-file={root}/log/munged.log")
        self._wait(lambda: (root / "munge/munge.sock").exists(), timeout_s, "munged")
        self._spawn("slurmctld", "-D", "-f", str(self.conf))
        self._spawn("slurmd", "-D", "-f", str(self.conf), "-N", NODE)
        self._wait(lambda: self.node_state() == "idle", timeout_s, "the node to be idle")

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

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A Slurm client command against this cluster."""
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=60)

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
        if self.linked and SYSTEM_CONF.is_symlink() and SYSTEM_CONF.readlink() == self.conf:
            SYSTEM_CONF.unlink()
        self.linked = False
