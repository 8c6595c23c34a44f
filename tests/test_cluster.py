"""Slurm requests against sinfo's nodes, and squeue's stuck jobs (x2softmax.cluster)."""

from __future__ import annotations

import subprocess
import threading
from types import SimpleNamespace

import pytest

from x2softmax import cluster
from x2softmax.cluster import Node, Request

# sinfo -h -N -o "%P|%c|%m|%G|%l" of the cluster: one 2-CPU node in a cpu and a gpu partition
SINFO = "cpu*|2|7900|gpu:2|infinite\ngpu|2|7900|gpu:2(S:0)|1-00:00:00\n"


def test_sinfo_lines_become_nodes_per_partition():
    partitions, default = cluster.parse_sinfo(SINFO)
    assert default == "cpu"
    assert partitions == {"cpu": [Node(2, 7900, 2, None)], "gpu": [Node(2, 7900, 2, 24 * 60)]}
    with pytest.raises(cluster.ClusterError, match="unexpected line"):
        cluster.parse_sinfo("cpu 2 7900")


@pytest.mark.parametrize(("text", "minutes"), [
    ("infinite", None), ("UNLIMITED", None), ("30", 30), ("30:00", 30), ("4:00:00", 240), ("1-00:00:00", 1440),
    ("2-03:04:05", 2 * 1440 + 3 * 60 + 5),
])
def test_slurm_times_in_minutes(text, minutes):
    assert cluster.time_minutes(text) == minutes


@pytest.mark.parametrize(("text", "gpus"), [
    ("(null)", 0), ("gpu:2", 2), ("gpu:a100:4(S:0-1)", 4), ("gpu:2,shard:4", 2), ("gpu:a100:2,gpu:v100:1", 3),
])
def test_gres_gpus(text, gpus):
    assert cluster.gres_gpus(text) == gpus


def test_a_kind_asking_more_cpus_than_any_node_is_named_with_its_numbers():
    partitions, default = cluster.parse_sinfo(SINFO)
    requests = [Request("train", "gpu", 8, 4000, 1, 30), Request("synthesize", None, 1, 2000, 0, 10)]
    problems = cluster.oversized(requests, partitions, default)
    assert len(problems) == 1
    assert "'train'" in problems[0] and "'gpu'" in problems[0] and "CPUs 8 > 2" in problems[0], problems


@pytest.mark.parametrize(("request_", "detail"), [
    (Request("evaluate", "gpu", 2, 64000, 1, 30), "memory MB 64000 > 7900"),
    (Request("toy", "gpu", 1, 1000, 3, 30), "GPUs 3 > 2"),
    (Request("train", "gpu", 1, 1000, 1, 4320), "time min 4320 > 1440"),
    (Request("train", "a100", 1, 1000, 1, 30), "partition 'a100' does not exist (partitions: cpu, gpu)"),
])
def test_memory_gpus_time_and_partition_are_checked(request_, detail):
    problems = cluster.oversized([request_], *cluster.parse_sinfo(SINFO))
    assert len(problems) == 1 and detail in problems[0] and repr(request_.kind) in problems[0], problems


def test_a_request_must_fit_one_node_not_the_maxima_of_several():
    partitions = {"mix": [Node(64, 4000, 0, None), Node(4, 256000, 4, None)]}
    assert cluster.oversized([Request("train", "mix", 8, 1000, 1, 60)], partitions, None) == [
        "job kind 'train' asks partition 'mix' for 8 CPUs, 1000 MB, 1 GPUs, 60 min; no node there offers that "
        "(each fits some node, but no node offers all of them at once)"]
    assert cluster.oversized([Request("train", "mix", 4, 1000, 1, 60)], partitions, None) == []


@pytest.mark.e2e  # the package runs Snakemake's dry run
def test_the_smoke_presets_requests_fit_a_two_cpu_node():
    from x2softmax import config as xcfg
    from x2softmax.plan import workflow_jobs

    jobs = workflow_jobs("smoke")
    assert {"train", "evaluate", "toy", "synthesize"} <= {j["rule"] for j in jobs}
    requests = [Request(j["rule"], j["partition"], j["cpus"], j["mem_mb"], j["gpus"], j["runtime_min"])
                for j in jobs if not j["local"]]
    nodes = {"main": [Node(2, 8000, 2, None)], "gpu": [Node(2, 8000, 2, None)]}
    assert cluster.oversized(cluster.kind_requests(requests), nodes, "main") == []
    assert xcfg.load_config("smoke")["resources"]["train"]["mem_mb"] <= 8000


def test_job_requests_follow_the_executor_cpus_per_task_else_threads_and_skip_local_jobs():
    def job(name, threads, local=False, **res):
        return SimpleNamespace(rule=SimpleNamespace(name=name), threads=threads, is_local=local, resources=res)

    jobs = [job("train", 8, slurm_partition="gpu", mem_mb=64000, gpu=1, runtime=4320),
            job("train", 8, slurm_partition="gpu", mem_mb=64000, gpu=1, runtime=4320, cpus_per_task=4),
            job("fetch_dataset", 1, local=True, mem_mb=1000, runtime=10),
            job("synthesize", 1, mem_mb=2000, runtime=10, disk_mb="<TBD>")]
    requests = cluster.job_requests(jobs)
    assert [r.cpus for r in requests] == [8, 4, 1]
    assert cluster.kind_requests(requests) == [Request("train", "gpu", 8, 64000, 1, 4320),
                                               Request("synthesize", None, 1, 2000, 0, 10)]


SQUEUE = """\
41|rule_train_wildcards_arcface|PartitionConfig|{wd}
42|rule_evaluate_wildcards_arcface|Dependency|{wd}
43|rule_toy_wildcards_arcface_2|ReqNodeNotAvail, UnavailableNodes:|{wd}
44|rule_toy_wildcards_cosface_2|ReqNodeNotAvail, UnavailableNodes:node3|{wd}
45|rule_train_wildcards_arcface|PartitionConfig|/elsewhere
46|my_own_job|PartitionConfig|{wd}
47|rule_train_wildcards_cosface|Priority|{wd}
"""


def test_stuck_jobs_are_this_workflows_with_reasons_that_never_clear(tmp_path):
    stuck = cluster.stuck_jobs(SQUEUE.format(wd=tmp_path), str(tmp_path))
    assert [s[0] for s in stuck] == ["41", "43"]


def test_the_watch_reports_each_stuck_job_once(tmp_path):
    calls = []
    reported: list[str] = []
    done = threading.Event()

    def fake_squeue(cmd, **kwargs):
        calls.append(cmd)
        if len(calls) >= 3:
            done.set()
        return subprocess.CompletedProcess(cmd, 0, SQUEUE.format(wd=tmp_path), "")

    stop = cluster.watch_pending(reported.append, str(tmp_path), interval_s=0.01, run=fake_squeue)
    assert done.wait(10)
    stop.set()
    assert calls[0][:5] == ["squeue", "-h", "-t", "PD", "-o"]
    assert len(reported) == 2 and "Slurm job 41 (rule_train_wildcards_arcface) is pending for PartitionConfig" \
        in reported[0] and "scancel 41" in reported[0]


def test_sinfo_failure_is_one_line():
    def failing(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "slurm_load_partitions: Unable to contact slurm controller\n")

    with pytest.raises(cluster.ClusterError, match="sinfo failed: slurm_load_partitions"):
        cluster.read_partitions(run=failing)


def test_cluster_check_command_refuses_a_node_too_small_and_passes_the_smoke_preset_on_two_cpus(tmp_path):
    import os
    import sys

    def check(sinfo_lines: str) -> subprocess.CompletedProcess[str]:
        fake = tmp_path / "bin"
        fake.mkdir(exist_ok=True)
        (fake / "sinfo").write_text(f"#!/bin/sh\nprintf '{sinfo_lines}'\n")
        (fake / "sinfo").chmod(0o755)
        env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"}
        return subprocess.run([sys.executable, "-m", "x2softmax", "cluster-check", "--preset", "smoke"],
                              capture_output=True, text=True, env=env, timeout=300)

    fits = check("main*|2|7900|(null)|infinite\\ngpu|2|7900|gpu:2|infinite\\n")
    assert fits.returncode == 0, fits.stderr
    assert "cluster-check: train: 1 CPUs, 4000 MB, 1 GPUs, 30 min in partition gpu: fits" in fits.stdout
    small = check("main*|2|7900|(null)|infinite\\ngpu|2|3000|gpu:2|20:00\\n")
    assert small.returncode == 1
    lines = small.stderr.strip().splitlines()
    assert any("job kind 'train'" in ln and "memory MB 4000 > 3000" in ln and "time min 30 > 20" in ln
               for ln in lines), lines
    assert not any("'synthesize'" in ln for ln in lines), lines
