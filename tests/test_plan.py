"""The compute plan of a preset."""

from __future__ import annotations

import pytest

from x2softmax import config as xcfg
from x2softmax.plan import compute_plan, format_plan, parse_dry_run, workflow_jobs


@pytest.fixture(scope="module")
def paper() -> dict:
    return xcfg.load_config("paper")


def test_paper_plan_lists_every_run_with_requests(paper: dict) -> None:
    rows = compute_plan(paper)
    jobs = {r["job"] for r in rows}
    for run in xcfg.runs(paper):
        assert f"train[{run}]" in jobs and f"evaluate[{run}]" in jobs
    for seed in paper["seeds"]["extra"]:  # the paper preset's extra seeds are priced as their own jobs
        assert {f"train[x2softmax.seed{seed}]", f"train[arcface.seed{seed}]", f"train[cosface.seed{seed}]"} <= jobs
    train = next(r for r in rows if r["job"] == "train[x2softmax]")
    assert train["gpus"] == paper["train"]["gpus"]
    assert train["mem_mb"] == paper["resources"]["train"]["mem_mb"]
    assert train["images"] == 5_179_510 * paper["train"]["epochs"]  # MS1MV3 x 20 epochs
    expected = train["images"] / paper["plan"]["train_images_per_s_per_gpu"] / 3600
    assert train["gpu_hours"] == pytest.approx(expected)


def test_throughput_scales_the_estimate(paper: dict) -> None:
    slow = dict(paper, plan={**paper["plan"], "train_images_per_s_per_gpu": 700})
    fast = {r["job"]: r["gpu_hours"] for r in compute_plan(paper)}
    for row in compute_plan(slow):
        if row["job"].startswith("train["):
            assert row["gpu_hours"] == pytest.approx(2 * fast[row["job"]])


@pytest.fixture(scope="module")
def paper_jobs() -> list[dict]:
    return workflow_jobs("paper")  # Snakemake's dry run through profiles/slurm (a few seconds)


@pytest.mark.e2e  # paper_jobs: Snakemake's dry run, started by the package
def test_the_plan_lists_every_job_with_partition_cpus_memory_gpus_and_time(paper: dict, paper_jobs) -> None:
    jobs = {j["job"]: j for j in paper_jobs}
    train = jobs["train[x2softmax]"]
    assert (train["partition"], train["cpus"], train["gpus"]) == ("gpu", paper["train"]["threads"], 1)
    assert (train["mem_mb"], train["runtime_min"]) == (paper["resources"]["train"]["mem_mb"],
                                                       paper["resources"]["train"]["runtime"])
    assert jobs["evaluate[x2softmax]"]["partition"] == "gpu" and jobs["toy[x2softmax]"]["gpus"] == 1
    cpu_jobs = [j for j in paper_jobs if j["gpus"] == 0]
    assert {"index", "summary", "margins", "render_notebook", "align_ijb"} <= {j["rule"] for j in cpu_jobs}
    assert all(j["partition"] == "main" and j["cpus"] >= 1 and j["mem_mb"] > 0 for j in cpu_jobs if not j["local"])
    fetches = [j for j in paper_jobs if j["rule"] == "fetch_dataset"]
    assert len(fetches) == len(paper["data"]["required"]) and all(j["local"] for j in fetches)  # on the login node
    assert "all" not in {j["rule"] for j in paper_jobs}  # the target rule submits nothing


@pytest.mark.e2e  # paper_jobs: Snakemake's dry run, started by the package
def test_format_has_totals_per_partition_and_a_total(paper: dict, paper_jobs) -> None:
    estimates = compute_plan(paper)
    text = format_plan(paper_jobs, estimates)
    lines = text.splitlines()
    total = sum(r["gpu_hours"] for r in estimates)
    assert lines[-1].startswith("total") and f"{total:.2f}" in lines[-1] and f"{len(paper_jobs)} jobs" in lines[-1]
    gpu_jobs = [j for j in paper_jobs if j["partition"] == "gpu"]
    gpu_line = next(line for line in lines if line.strip().startswith("gpu ") and "jobs" in line)
    requested = sum(j["gpus"] * j["runtime_min"] for j in gpu_jobs) / 60
    assert f"{len(gpu_jobs)} jobs" in gpu_line and f"{requested:,.1f} GPU-hours requested" in gpu_line, gpu_line
    assert any(line.strip().startswith("main ") for line in lines)
    assert len([line for line in lines if line.startswith(("train[", "render_notebook["))]) == \
        len([j for j in paper_jobs if j["rule"] in ("train", "render_notebook")])


def test_dry_run_blocks_are_parsed() -> None:
    text = """\
localrule fetch_dataset:
    output: data/.checked/lfw.json
    wildcards: dataset=lfw
    resources: tmpdir=/tmp, mem_mb=8000, mem=8 GB, slurm_partition=main, runtime=120
rule train:
    output: results/train/a/backbone.pt
    wildcards: run=a
    threads: 8
    resources: tmpdir=/tmp, mem_mb=64000, mem=64 GB, disk_mb=<TBD>, slurm_partition=gpu, gpu=1, runtime=4320
rule all:
    input: reports/index.html
    resources: tmpdir=/tmp, mem_mb=<TBD>, slurm_partition=main, cpus_per_task=2
"""
    assert parse_dry_run(text) == [
        {"job": "fetch_dataset[lfw]", "rule": "fetch_dataset", "local": True, "partition": "(submitting node)",
         "cpus": 1, "mem_mb": 8000, "gpus": 0, "runtime_min": 120},
        {"job": "train[a]", "rule": "train", "local": False, "partition": "gpu", "cpus": 8, "mem_mb": 64000,
         "gpus": 1, "runtime_min": 4320}]


def test_synthetic_plan_reads_the_manifest(tmp_path) -> None:
    import json

    config = xcfg.load_config()
    config["data"]["root"] = str(tmp_path)
    assert all(r["images"] == 0 for r in compute_plan(config) if r["job"].startswith("train["))
    counts = {"train": {"images": 1000}, "IJBB": {"images": 50}, "IJBC": {"images": 70},
              "val": {b: {"pairs": 30} for b in config["evaluate"]["benchmarks"]}}
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"counts": counts}))
    rows = {r["job"]: r for r in compute_plan(config)}
    assert rows["train[x2softmax]"]["images"] == 1000 * config["train"]["epochs"]
    n_bench = len(config["evaluate"]["benchmarks"])
    assert rows["evaluate[x2softmax]"]["images"] == 2 * (2 * 30 * n_bench + 50 + 70)


def test_the_plan_says_which_throughput_it_assumes_and_takes_gpu_checks_measurement(paper: dict, tmp_path) -> None:
    import copy
    import json

    from x2softmax.plan import throughput_source

    assumed = throughput_source(copy.deepcopy(paper))
    assert "1,400 images/s" in assumed and "assumed in config plan" in assumed and "gpu-check" in assumed
    measured = tmp_path / "gpu_check.json"
    measured.write_text(json.dumps({"mode": "gpu", "ok": True, "device": "NVIDIA H200",
                                    "throughput": {"train_images_per_s": 2800.0, "eval_images_per_s": 9000.0}}))
    config = copy.deepcopy(paper)
    line = throughput_source(config, measured=measured)
    assert "2,800 images/s" in line and "measured by gpu-check on NVIDIA H200" in line
    train = next(r for r in compute_plan(config) if r["job"] == "train[x2softmax]")
    assert train["gpu_hours"] == pytest.approx(5_179_510 * paper["train"]["epochs"] / 2800 / 3600)
    measured.write_text(json.dumps({"mode": "gpu", "ok": False, "device": "x", "throughput": {}}))
    with pytest.raises(ValueError, match="not a passed GPU run"):
        throughput_source(copy.deepcopy(paper), measured=measured)


@pytest.mark.parametrize("rate", [float("nan"), float("inf"), -1400.0, "fast"])  # 0: "no rates" above
def test_measured_rates_must_be_finite_and_positive(paper, tmp_path, rate):
    """A gpu-check summary whose rate is NaN, infinite, negative or not a number is refused naming the key."""
    import copy
    import json

    from x2softmax.plan import throughput_source

    measured = tmp_path / "gpu_check.json"
    measured.write_text(json.dumps({"mode": "gpu", "ok": True, "device": "H200",
                                    "throughput": {"train_images_per_s": rate, "eval_images_per_s": 9000.0}}))
    with pytest.raises(ValueError, match=r"throughput.train_images_per_s .* not a finite positive rate"):
        throughput_source(copy.deepcopy(paper), measured=measured)
