"""The Slurm section of docs/clusters.md, followed as written, on a real one-node Slurm (slurm_cluster.py) that is
this machine: its real CPU count and memory, Slurm's default timings, two fake GPUs.

In a copy of the project the test runs the page's install line (pip finds every package already installed in
the test's venv, read through a .pth file, and snakemake and pip as wheels repacked from it: no network), edits only the
settings block of profiles/slurm/config.yaml (its partitions, a short first status check), and then:
- with a training request larger than the node (cpus_per_task: 8), the page's smoke line stops at once, naming
  the job kind and the numbers, and submits nothing;
- the smoke line as written, given TARGETS (one run's training and evaluation, one toy job: every GPU job kind,
  and the data jobs they need), runs them as Slurm jobs: each job Snakemake planned was submitted, in the
  partition, with the CPUs, memory, GPUs and time limit `make plan` lists for it (each job re-parses the
  Snakefile on the node and writes its rule's log there); training, evaluation and toy jobs asked the GPU
  partition for GPUs; the training job decided itself not to lease (it sees SLURM_JOB_ID and no inherited
  X2S_GPU_LEASE);
- a job sbatch'ed from a shell that has X2S_GPU_LEASE=1, on a node with a fake CUDA device count, takes the
  device Slurm gave it without a lock;
- a second run submits nothing.
The rest of the smoke DAG (summary, uncertainty, the pages) is what tests/workflow/test_workflow.py's smoke run
checks; under Slurm its jobs differ from these only in their rule (the same submission path, the same plan).
Cannot set up Slurm (not root, not installed): the test fails and says why; `make test` installs Slurm first.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

import slurm_cluster
from wfutil import REPO, copy_project, env_without_venv

from x2softmax import config as xcfg
from x2softmax.plan import workflow_jobs

pytestmark = pytest.mark.e2e

SETTINGS = {  # profile setting as the repository has it -> the test cluster's value
    'slurm_partition: "main"': f'slurm_partition: "{slurm_cluster.CPU_PARTITION}"',
    'slurm_partition: "gpu"': f'slurm_partition: "{slurm_cluster.GPU_PARTITION}"',
    "slurm-init-seconds-before-status-checks: 40": "slurm-init-seconds-before-status-checks: 2",
    "latency-wait: 60": "latency-wait: 5",
}
TOO_MANY_CPUS = ("    # cpus_per_task: 8\n", "    cpus_per_task: 8\n")  # the train block's commented example
GPU_KINDS = ("train", "evaluate", "toy")  # docs/clusters.md: training, evaluation and toy jobs ask the GPU partition
SMOKE_CONFIG = xcfg.load_config("smoke")
RUN = xcfg.runs(SMOKE_CONFIG)[0]  # the first training run of the smoke preset
# What the smoke line is given to make: RUN trained and evaluated, one toy job (upstream: the data jobs).
TARGETS = (f"results/eval/{RUN}/metrics.csv",
           f"results/toy/{SMOKE_CONFIG['toy']['losses'][0]}_{SMOKE_CONFIG['toy']['dims'][0]}d.npz")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[slurm_cluster.SlurmCluster]:
    if reason := slurm_cluster.unavailable():
        pytest.fail(reason)  # never a skip: `make test` must not pass without this test
    cluster = slurm_cluster.SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


SLURM_DOC = REPO / "docs/clusters.md"  # the Slurm section a user follows


def doc_slurm_lines() -> list[str]:
    """The command lines of docs/clusters.md's Slurm code block."""
    text = SLURM_DOC.read_text()
    block = text.split("### Slurm", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def doc_line(call: str, preset: str | None = None) -> str:
    """The first line of docs/clusters.md's Slurm block that contains `call` (and names config/presets/`preset`)."""
    lines = [line for line in doc_slurm_lines()
             if call in line and (preset is None or f"/{preset}.yaml" in line)]
    assert lines, f"docs/clusters.md's Slurm block has no line with {call!r} {preset or ''}"
    return lines[0]


def split_checked(line: str) -> tuple[str, list[str]]:
    """A docs line `CHECK && SNAKEMAKE ...  # comment`: the check as a shell command, the Snakemake call split."""
    check, sep, call = line.rpartition("&&")
    assert sep and "x2softmax config-check --preset" in check, f"the docs line runs no config-check first: {line}"
    return check.strip(), shlex.split(call, comments=True)


def repack_wheel(dist_name: str, dest: Path) -> None:
    """The installed distribution `dist_name` as a wheel in `dest` (its files and metadata, a fresh RECORD)."""
    dist = metadata.distribution(dist_name)
    name = dist.metadata["Name"].replace("-", "_")
    wheel = dest / f"{name}-{dist.version}-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in dist.files or []:
            rel = str(file)
            skipped = ("INSTALLER", "REQUESTED", "RECORD", "direct_url.json")
            if rel.startswith("..") or "__pycache__" in file.parts or file.name in skipped:
                continue
            zf.write(file.locate(), rel)
            records.append(f"{rel},,")
        info = next(p for p in (dist.files or []) if p.parts[0].endswith(".dist-info")).parts[0]
        zf.writestr(f"{info}/RECORD", "\n".join([*records, f"{info}/RECORD,,"]) + "\n")


def prepare_install(project: Path, tmp: Path) -> dict[str, str]:
    """A bare .venv in `project` that sees the test venv's packages but snakemake and pip, which pip installs as wheels
    (the Makefile brings the venv's pip to the lock's version first, as a user's install fetches it).

    Returns the environment the install line runs in: no index, no build isolation, the wheel folder.
    """
    site = Path(sysconfig.get_paths()["purelib"])
    view = tmp / "site-view"
    view.mkdir()
    own = {"snakemake", "pip", "x2softmax"}
    for entry in site.iterdir():
        stem = entry.name.split("-")[0].lower()
        if stem in own or entry.name.startswith(("__editable__", "_x2softmax")) or entry.suffix == ".pth" \
                or entry.name == "__pycache__":
            continue
        (view / entry.name).symlink_to(entry)
    wheels = tmp / "wheels"
    wheels.mkdir()
    for dist_name in ("snakemake", "pip"):
        repack_wheel(dist_name, wheels)
    subprocess.run([sys._base_executable, "-m", "venv", str(project / ".venv")], check=True, timeout=300)
    venv_site = next((project / ".venv/lib").glob("python*/site-packages"))
    for bundled in venv_site.iterdir():  # Python 3.11's venv bundles an old setuptools (no bdist_wheel): the view's
        if bundled.name.startswith(("setuptools", "_distutils_hack", "distutils-precedence")):
            shutil.rmtree(bundled) if bundled.is_dir() else bundled.unlink()
    (venv_site / "zz-test-venv-packages.pth").write_text(f"{view}\n")
    environ = user_env()
    environ.update(PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1",
                   PIP_FIND_LINKS=" ".join(filter(None, [str(wheels), os.environ.get("PIP_FIND_LINKS")])))
    return environ


def user_env() -> dict[str, str]:
    """The environment of a user who calls .venv/bin/... : the test venv off PATH, no PYTHONPATH."""
    environ = env_without_venv()
    environ.pop("PYTHONPATH", None)
    return environ


def configure_profile(project: Path) -> None:
    """Put the test cluster's settings into the profile's settings block (the docs/clusters.md's one place for them)."""
    profile = project / "profiles/slurm/config.yaml"
    text = profile.read_text()
    for old, new in (*SETTINGS.items(), TOO_MANY_CPUS):
        assert old in text, f"profiles/slurm/config.yaml no longer has {old!r}"
    for old, new in SETTINGS.items():
        text = text.replace(old, new)
    profile.write_text(text)


def run(cluster: slurm_cluster.SlurmCluster, project: Path, cmd: list[str], check: bool = True,
        ) -> subprocess.CompletedProcess[str]:
    """Run `cmd` in `project` against the cluster, venv off PATH; fail with Snakemake's output and the logs."""
    try:
        proc = subprocess.run(cmd, cwd=project, env=cluster.env(user_env()), capture_output=True, text=True,
                              timeout=1500)
    except subprocess.TimeoutExpired as err:
        raise AssertionError(f"timed out: {err.stdout!s:.4000}\n{err.stderr!s:.4000}\n{cluster.logs()}") from None
    if check and proc.returncode != 0:
        job_logs = "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-2000:]}"
                             for p in sorted((project / ".snakemake/slurm_logs").rglob("*.log")))
        raise AssertionError(f"{shlex.join(cmd)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}\n"
                             f"{job_logs[-5000:]}\n{cluster.logs()}")
    return proc


def job_stats(output: str) -> dict[str, int]:
    """Snakemake's `Job stats:` table at the start of a run (rule -> number of jobs it will run)."""
    lines = output.split("Job stats:", 1)[1].strip().splitlines()
    stats = {}
    for line in lines[2:]:  # after the header and its dashes
        if not line.strip() or line.split()[0] == "total":
            break
        rule, count = line.split()
        stats[rule] = int(count)
    return stats


def gpu_request(job: dict[str, str]) -> str:
    """The GPUs a job asked for, as scontrol shows them (gres:gpu:N per job for --gpus, per node for --gres)."""
    return job.get("TresPerJob", "") + job.get("TresPerNode", "")


def time_limit(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def comment_of(label: str) -> str:
    """The executor's sbatch --comment of the plan's job label ('train[a]' -> 'rule_train_wildcards_a')."""
    rule, _, inner = label.partition("[")
    return f"rule_{rule}" + (f"_wildcards_{'_'.join(inner.rstrip(']').split(','))}" if inner else "")


def test_docs_slurm_section_on_this_machine(cluster: slurm_cluster.SlurmCluster, tmp_path: Path) -> None:
    timings = {}
    project = copy_project(tmp_path / "project")
    configure_profile(project)
    start = time.monotonic()
    install = doc_line("make .venv/.installed")
    environ = prepare_install(project, tmp_path)
    proc = subprocess.run(["bash", "-c", f"set -e; {install}"], cwd=project, env=environ, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"{install}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    timings["install line"] = time.monotonic() - start
    check, args = split_checked(doc_line(".venv/bin/snakemake --workflow-profile profiles/slurm", "smoke"))
    cmd = [str(project / args[0]), *TARGETS, *args[1:]]  # targets first: --configfile takes every value after it
    assert Path(cmd[0]).is_file(), "the docs/clusters.md's install line made no .venv/bin/snakemake"
    checked = subprocess.run(["bash", "-c", check], cwd=project, env=user_env(), capture_output=True, text=True,
                             timeout=120)
    assert checked.returncode == 0 and "config: valid" in checked.stdout, f"{check}\n{checked.stdout}{checked.stderr}"

    # A training request no node can meet: one line naming the kind and the numbers, before anything is submitted.
    profile = project / "profiles/slurm/config.yaml"
    settings = profile.read_text()
    profile.write_text(settings.replace(*TOO_MANY_CPUS, 1))
    start = time.monotonic()
    refused = run(cluster, project, cmd, check=False)
    timings["refusal"] = time.monotonic() - start
    profile.write_text(settings)
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0, out[-3000:]
    line = next((ln for ln in out.splitlines() if "job kind 'train'" in ln), None)
    assert line and f"'{slurm_cluster.GPU_PARTITION}'" in line and f"CPUs 8 > {slurm_cluster.NODE_CPUS}" in line, out
    assert not cluster.records, f"submitted before refusing: {cluster.records}"

    start = time.monotonic()
    ran = run(cluster, project, cmd)
    timings["targets run"] = time.monotonic() - start
    for target in TARGETS:
        assert (project / target).stat().st_size > 0, target
    time.sleep(4)  # the recorder's last look
    jobs = dict(cluster.records)

    # Every job Snakemake ran was a Slurm job, as `make plan` lists it: partition, CPUs, memory, GPUs, time.
    planned = {comment_of(j["job"]): j for j in workflow_jobs("smoke", project / "profiles/slurm") if not j["local"]}
    seen = {j["Comment"]: j for j in jobs.values()}
    assert set(seen) <= set(planned), sorted(set(seen) - set(planned))
    submitted = {}
    for comment in seen:
        rule = comment.split("_wildcards_")[0].removeprefix("rule_")
        submitted[rule] = submitted.get(rule, 0) + 1
    assert submitted == job_stats(ran.stdout + ran.stderr), (submitted, ran.stderr[:3000])
    assert {"synthesize", "train", "evaluate", "toy"} <= set(submitted), submitted
    for comment, job in seen.items():
        plan = planned[comment]
        assert job["JobState"] == "COMPLETED", (comment, job)
        assert job["Partition"] == plan["partition"], (comment, job, plan)
        assert job["CPUs/Task"] == str(plan["cpus"]), (comment, job, plan)
        assert job["MinMemoryNode"] == f"{plan['mem_mb']}M", (comment, job, plan)
        assert job["TimeLimit"] == time_limit(plan["runtime_min"]), (comment, job, plan)
        asked = f"gpu:{plan['gpus']}" in gpu_request(job) if plan["gpus"] else "gpu" not in gpu_request(job)
        assert asked, (comment, job, plan)
    kinds = {c.split("_wildcards_")[0].removeprefix("rule_") for c in seen}
    assert set(GPU_KINDS) <= kinds and len(kinds) > len(GPU_KINDS), kinds
    for comment, job in seen.items():
        kind = comment.split("_wildcards_")[0].removeprefix("rule_")
        gpu_kind = kind in GPU_KINDS
        assert job["Partition"] == (slurm_cluster.GPU_PARTITION if gpu_kind else slurm_cluster.CPU_PARTITION), job
        assert ("gpu:1" in gpu_request(job)) == gpu_kind, job
        if gpu_kind:
            res = SMOKE_CONFIG["resources"][kind]
            assert (job["MinMemoryNode"], job["TimeLimit"]) == (f"{res['mem_mb']}M", time_limit(res["runtime"])), job
            cpus = SMOKE_CONFIG["train"]["threads"] if kind in ("train", "evaluate") else 1
            assert job["CPUs/Task"] == str(cpus) and int(job["NumCPUs"]) <= slurm_cluster.NODE_CPUS, job

    # Each training job decided from what it saw: Slurm gave its devices; nothing inherited asked for a lease.
    train_jobs = {c.removeprefix("rule_train_wildcards_"): j for c, j in seen.items() if c.startswith("rule_train_")}
    assert set(train_jobs) == {RUN}
    for run_name, job in train_jobs.items():
        log = (project / f"logs/train/{run_name}.log").read_text()
        decision = next((ln for ln in log.splitlines() if "GPU lease decision" in ln), "")
        assert f"GPUs as given by Slurm (Slurm {job['JobId']}), no lease" in decision, (run_name, decision)
        assert "X2S_GPU_LEASE" not in decision, f"X2S_GPU_LEASE leaked into Slurm job {job['JobId']}: {decision}"

    # A job submitted from a shell that has X2S_GPU_LEASE=1, on a node with 2 (fake) CUDA devices.
    probe = project / "lease_probe.json"
    leaky = {**user_env(), "X2S_GPU_LEASE": "1"}
    probe_cmd = shlex.join([str(project / ".venv/bin/python"), str(REPO / "tests/workflow/lease_probe.py"),
                            str(project / "locks"), str(probe)])
    job_id = cluster.run("sbatch", "--parsable", "-p", slurm_cluster.GPU_PARTITION, "--gpus=1", "-c", "1",
                         "--mem=1000", "-t", "5", "-D", str(project), "-o", str(project / "lease_probe.log"),
                         "--wrap", probe_cmd, env=leaky).stdout.strip().split(";")[0]
    deadline = time.monotonic() + 180
    while not probe.exists() and time.monotonic() < deadline:
        time.sleep(1)
    probe_log = (project / "lease_probe.log").read_text() if (project / "lease_probe.log").exists() else ""
    assert probe.exists(), f"the probe job {job_id} wrote nothing:\n{probe_log}\n{cluster.logs()}"
    seen_by_job = json.loads(probe.read_text())
    assert seen_by_job["environ"]["SLURM_JOB_ID"] == job_id and seen_by_job["environ"]["X2S_GPU_LEASE"] == "1"
    assert seen_by_job["owner"] == "Slurm" and seen_by_job["devices"] == [0] and seen_by_job["locks"] == [], \
        seen_by_job
    assert "X2S_GPU_LEASE=1 ignored" in seen_by_job["decision"], seen_by_job

    start = time.monotonic()
    second = run(cluster, project, cmd)
    timings["second run"] = time.monotonic() - start
    assert "Nothing to be done" in second.stdout + second.stderr
    time.sleep(4)
    assert set(cluster.records) == set(jobs) | {job_id}, "the second run submitted jobs"
    print("Slurm test timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
