"""The README's Slurm command on a real one-node Slurm with two fake GPUs (slurm_cluster.py): the smoke preset runs
to reports/index.html, training jobs ask for a GPU, memory and a time limit in the GPU partition, and a second run
submits nothing.

The test changes only the settings block of profiles/slurm/config.yaml (its partitions, and a short first status
check so that the run is quick) and calls the command exactly as the README writes it, with the venv off PATH.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import slurm_cluster
from wfutil import BIN, REPO, copy_project, env_without_venv

from x2softmax import config as xcfg

pytestmark = pytest.mark.e2e

SETTINGS = {  # profile setting as the repository has it -> the test cluster's value
    'slurm_partition: "main"': f'slurm_partition: "{slurm_cluster.CPU_PARTITION}"',
    'slurm_partition: "gpu"': f'slurm_partition: "{slurm_cluster.GPU_PARTITION}"',
    "slurm-init-seconds-before-status-checks: 40": "slurm-init-seconds-before-status-checks: 2",
    "latency-wait: 60": "latency-wait: 5",
}


def readme_command(preset: str) -> list[str]:
    """The README's Slurm command line for `preset`, with .venv/bin/snakemake being this venv's."""
    for line in (REPO / "README.md").read_text().splitlines():
        if line.startswith(".venv/bin/snakemake --workflow-profile profiles/slurm") and f"/{preset}.yaml" in line:
            args = shlex.split(line, comments=True)
            return [str(BIN / "snakemake"), *args[1:]]
    raise AssertionError(f"README.md has no Slurm command line for the {preset} preset")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[slurm_cluster.SlurmCluster]:
    if reason := slurm_cluster.unavailable():
        pytest.skip(reason)
    cluster = slurm_cluster.SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def gpu_request(job: dict[str, str]) -> str:
    """The GPUs a job asked for, as scontrol shows them (gres:gpu:N per job for --gpus, per node for --gres)."""
    return job.get("TresPerJob", "") + job.get("TresPerNode", "")


def configure_profile(project: Path) -> None:
    """Put the test cluster's settings into the profile's settings block (the README's one place for them)."""
    profile = project / "profiles/slurm/config.yaml"
    text = profile.read_text()
    for old, new in SETTINGS.items():
        assert old in text, f"profiles/slurm/config.yaml no longer has {old!r}"
        text = text.replace(old, new)
    profile.write_text(text)


def run(cluster: slurm_cluster.SlurmCluster, project: Path, cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """Run `cmd` in `project` against the cluster; fail with Snakemake's output and the daemon logs."""
    try:
        proc = subprocess.run(cmd, cwd=project, env=env_without_venv(), capture_output=True, text=True, timeout=1200)
    except subprocess.TimeoutExpired as err:
        raise AssertionError(f"timed out: {err.stdout!s:.4000}\n{err.stderr!s:.4000}\n{cluster.logs()}") from None
    if proc.returncode != 0:
        job_logs = "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-2000:]}"
                             for p in sorted((project / ".snakemake/slurm_logs").rglob("*.log")))
        raise AssertionError(f"{shlex.join(cmd)}:\n{proc.stderr[-5000:]}\n{job_logs[-5000:]}\n{cluster.logs()}")
    return proc


def test_readme_slurm_command_runs_the_smoke_preset(cluster: slurm_cluster.SlurmCluster, tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    configure_profile(project)
    cmd = readme_command("smoke")
    run(cluster, project, cmd)
    assert (project / "reports/index.html").stat().st_size > 1000

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    train_res = config["resources"]["train"]
    jobs = cluster.jobs()
    prefix = "rule_train_wildcards_"  # the plugin's --comment: rule name and wildcard values
    train_jobs = {j["Comment"].removeprefix(prefix): j for j in jobs if j["Comment"].startswith(prefix)}
    assert set(train_jobs) == set(xcfg.runs(xcfg.load_config("smoke"))), [j["Comment"] for j in jobs]  # seeds too
    for run_name, job in train_jobs.items():
        assert job["JobState"] == "COMPLETED", (run_name, job)
        assert job["Partition"] == slurm_cluster.GPU_PARTITION, (run_name, job)
        assert "gpu:1" in gpu_request(job), (run_name, job)  # --gpus=1
        assert job["MinMemoryNode"] == f"{train_res['mem_mb']}M", (run_name, job)
        assert job["TimeLimit"] == f"00:{train_res['runtime']:02d}:00", (run_name, job)
    light = [j for j in jobs if j["Comment"].startswith(("rule_synthesize", "rule_render_notebook", "rule_index"))]
    assert light and all(j["Partition"] == slurm_cluster.CPU_PARTITION for j in light), light
    assert all("gpu" not in gpu_request(j) for j in light), light

    second = run(cluster, project, cmd)
    assert "Nothing to be done" in second.stdout + second.stderr
    assert len(cluster.jobs()) == len(jobs), "the second run submitted jobs"
