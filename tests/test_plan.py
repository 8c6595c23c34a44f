"""The compute plan of a preset."""

from __future__ import annotations

import pytest

from x2softmax import config as xcfg
from x2softmax.plan import compute_plan, format_plan


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


def test_format_has_a_total(paper: dict) -> None:
    text = format_plan(compute_plan(paper))
    total = sum(r["gpu_hours"] for r in compute_plan(paper))
    assert text.splitlines()[-1].startswith("total")
    assert f"{total:.2f}" in text.splitlines()[-1]


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
