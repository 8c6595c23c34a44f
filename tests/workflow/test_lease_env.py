"""GPU lease variables: a local run's jobs get them in their shell commands; the submitting process's environment,
which sbatch --export=ALL passes into every Slurm job, never does (test_slurm.py checks the jobs themselves; the local
run's jobs are checked on the shared smoke run, test_workflow.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wfutil import REPO, env_without_venv

PARSE_AND_REPORT = """
import os, sys
from snakemake.cli import main
sys.argv = ["snakemake", "-s", sys.argv[1], "-d", sys.argv[2], "--dry-run", "--cores", "2"]
try:
    main()
except SystemExit:
    pass
print("LEASE_ENV=" + repr({k: v for k, v in os.environ.items() if k.startswith("X2S_GPU_LEASE")}))
"""


def test_reading_the_snakefile_puts_no_lease_variable_into_the_submitting_process(tmp_path: Path) -> None:
    environ = env_without_venv()
    environ.pop("X2S_GPU_LEASE", None)
    proc = subprocess.run([sys.executable, "-c", PARSE_AND_REPORT, str(REPO / "Snakefile"), str(tmp_path)],
                          capture_output=True, text=True, env=environ, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("LEASE_ENV=")), None)
    assert line == "LEASE_ENV={}", (line, proc.stdout[-2000:], proc.stderr[-3000:])

