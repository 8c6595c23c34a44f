"""The workflow's start under the Slurm executor, with fake Slurm clients: a job kind that no node of its partition
can run stops the run in one line before anything is submitted (no Slurm needed; test_slurm.py does it on a real one).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from wfutil import BIN, REPO, copy_project, env_without_venv

SINFO = "main*|2|7900|(null)|infinite\\ngpu|2|7900|gpu:2|infinite\\n"  # one 2-CPU node in both partitions


def test_a_request_no_node_can_meet_stops_the_run_before_any_submission(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "calls.log"
    for tool in ("sbatch", "squeue", "scontrol", "sacct", "sacctmgr", "scancel", "srun", "sinfo"):
        answer = f"printf '{SINFO}'" if tool == "sinfo" else "exit 1"
        (fake / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n{answer}\n')
        (fake / tool).chmod(0o755)
    profile = project / "profiles/slurm/config.yaml"
    text = profile.read_text()
    assert "    # cpus_per_task: 8\n" in text
    profile.write_text(text.replace("    # cpus_per_task: 8\n", "    cpus_per_task: 8\n", 1))
    environ = env_without_venv()
    environ["PATH"] = f"{fake}{os.pathsep}{environ['PATH']}"
    proc = subprocess.run([str(BIN / "snakemake"), "--workflow-profile", "profiles/slurm", "--configfile",
                           str(REPO / "config/presets/smoke.yaml")], cwd=project, env=environ, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    lines = [ln for ln in out.splitlines() if ln.startswith("cluster-check: ")]
    assert lines == ["cluster-check: job kind 'train' asks partition 'gpu' for 8 CPUs, 4000 MB, 1 GPUs, 30 min; "
                     "no node there offers that (CPUs 8 > 2)"], out[-3000:]
    submitted = [ln for ln in calls.read_text().splitlines() if ln.startswith(("sbatch", "srun"))]
    assert not submitted and "sinfo -h -N" in calls.read_text()
    assert not (project / "results").exists() or not any((project / "results").iterdir())
