"""The lent GPU machine simulated (conftest.py): its package set only, at the registry's newest versions
(device_image.txt), no index, the bundle installed with --target first on the path.

tools/device-gpu-check.sh must pass there with --dry and the real smoke workflow on the CPU (its subset: two losses'
training and evaluation and one page; every check in one call, as on the machine); the preflight must fail, naming
the wheel to add, when a distribution neither the image nor the bundle has is needed, and only warn when a
distribution the bundle does not carry is outside a needed range.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from x2softmax.cli import main as cli
from x2softmax.gpucheck import CHECKS, image, needs

REPO = Path(__file__).resolve().parents[2]


def test_the_simulated_machine_has_the_listed_versions_and_lacks_what_the_bundle_adds(device_python, device_bundle,
                                                                                      device_environment,
                                                                                      device_versions):
    env = device_environment(device_python, device_bundle, Path("/nonexistent"))
    done = subprocess.run([str(device_python), "-c", "import torch, numpy, pandas, yaml, jinja2; import snakemake"],
                          capture_output=True, text=True, env=env)
    assert done.returncode != 0 and "No module named 'snakemake'" in done.stderr
    listed = image.image_versions()
    assert set(listed) <= needs.device_packages() and "torch" not in listed
    assert listed["packaging"] != needs.installed("packaging").version  # the registry's newest, not this venv's
    shared = ["packaging", "jinja2", "pyyaml", "requests", "typing-extensions", "psutil"]
    assert device_versions(device_python, shared, env) == {name: listed[name] for name in shared}
    names = {needs.wheel_name(w)[0] for w in device_bundle.glob("*.whl")}
    assert {"snakemake", "jsonschema", "papermill", "nbconvert", "nbformat", "ipykernel", "connection-pool",
            "tinycss2", *shared} <= names  # the shared dependencies travel too, at this environment's versions
    assert not names & set(needs.LEFT_OUT) and not names & set(needs.FROM_THE_IMAGE)
    assert len(names) == len(list(device_bundle.glob("*.whl")))  # one version of each


def test_a_wheel_neither_the_image_nor_the_bundle_has_fails_the_preflight_in_one_line(device_python, device_bundle,
                                                                                   device_call, tmp_path):
    wheels = tmp_path / "whl"
    shutil.copytree(device_bundle, wheels)
    (removed,) = wheels.glob("connection_pool-*.whl")  # a dependency of a dependency, built here
    removed.unlink()
    done, summary = device_call(device_python, wheels, tmp_path / "site", tmp_path / "out", "--dry", timeout=120)
    assert done.returncode == 2 and not summary["ok"] and summary["error"] == "preflight failed"
    failed = [line for line in summary["preflight"].splitlines() if "FAILED" in line]
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert len(failed) == 1 and "connection-pool (needs" in failed[0] and f"add the {tag} wheel to" in failed[0]
    assert not (tmp_path / "site").exists()  # nothing installed once a wheel is known to be missing


def test_a_range_the_image_misses_for_a_package_not_carried_is_a_warning(device_python, device_bundle,
                                                                       device_environment, tmp_path):
    wheels = tmp_path / "whl"
    shutil.copytree(device_bundle, wheels)
    for wheel in wheels.glob("packaging-*.whl"):  # a bundle without packaging: the image's newest is used
        wheel.unlink()
    env = device_environment(device_python, wheels, tmp_path / "site")
    done = subprocess.run([str(device_python), "-m", "x2softmax.gpucheck.preflight", "--wheels", str(wheels),
                           "--site", str(tmp_path / "site"), "--dry"], cwd=REPO, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(REPO / "src")}, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    first, last = done.stdout.strip().splitlines()
    assert "in neither: none" in first and first.count("packaging") == 0
    newest = image.image_versions()["packaging"]
    assert last.startswith("preflight: ok:") and f"packaging {newest} (needs " in last.split("warnings")[1]


@pytest.fixture(scope="module")
def device_run(device_python, device_bundle, device_call, tmp_path_factory):
    """One call of the device command as the lent machine makes it (every check, in one call), in its dry form with
    the smoke workflow's subset run for real (--run-smoke --smoke-subset): (process, summary, OUT)."""
    tmp = tmp_path_factory.mktemp("device-run")
    done, summary = device_call(device_python, device_bundle, tmp / "site", tmp / "out", "--dry", "--run-smoke",
                                "--smoke-subset")
    return done, summary, tmp / "out"


@pytest.mark.e2e
def test_the_device_command_passes_dry_and_its_summary_prices_no_plan(device_run, device_bundle):
    done, summary, out = device_run
    assert done.returncode == 0, done.stderr[-3000:]
    preflight = done.stderr.splitlines()[0]
    assert preflight.startswith("preflight: Python") and "snakemake" in preflight and "torch 2." in preflight
    carried = needs.wheel_name(next(device_bundle.glob("packaging-*.whl")))[1]
    assert f"packaging {image.image_versions()['packaging']} -> {carried}" in preflight  # the bundle's comes first
    assert "preflight: ok:" in done.stderr and "warnings (a range not met, the check goes on): none" in done.stderr
    assert summary == json.loads((out / "gpu_check.json").read_text())
    assert summary["ok"] and summary["finished"] and summary["mode"] == "dry" and set(summary["checks"]) == set(CHECKS)
    # the dry mode's plan of the smoke workflow (no --run-smoke): test_device_oldest.py
    assert summary["checks"]["kill_and_resume"]["bit_exact"]  # deterministic on the CPU
    assert summary["checks"]["trainer_full_fc"]["finite_loss"]
    for key in ("train_images_per_s", "plain_loop_images_per_s", "train_pfc_images_per_s", "loader_images_per_s",
                "eval_images_per_s"):
        assert summary["throughput"][key] > 0, key
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.json", "gpu_check.log", "preflight.txt"]
    # a dry run's CPU numbers are not GPU throughput: the plan refuses them
    with pytest.raises(SystemExit, match="not a passed GPU run"):
        cli(["plan", "--preset", "paper", "--measured", str(out / "gpu_check.json")])


@pytest.mark.e2e
def test_the_device_command_runs_the_real_smoke_workflow(device_run):
    """The device image's Python runs Snakemake, the package's training and evaluation, papermill and nbconvert (page
    01 rendered), and the verdict judges the two runs that ran (gpu-check --smoke-subset; the whole DAG runs with
    the main environment in tests/workflow/test_workflow.py)."""
    done, summary, _ = device_run
    smoke = summary["checks"]["smoke_workflow"]
    assert done.returncode == 0 and summary["ok"], json.dumps(smoke)[-3000:]
    assert smoke["ran"] and smoke["targets"] == ["reports/01_margins.html"]
    assert smoke["runs"] == ["softmax", "x2softmax"] and smoke["runs_without_accuracy"] == []
    assert smoke["cells"] == 4  # 2 runs x 2 benchmarks, 10-fold
    assert smoke["nan_free"] and smoke["not_measurable_cells"] > 0  # NaN by design, noted
    assert smoke["above_chance"] and smoke["second_run_does_nothing"]


@pytest.mark.slow  # device_bundle: pip downloads the wheels (a process started by the package)
def test_the_bundle_command_prints_its_size_fits_the_carry_limit_and_needs_no_git(device_bundle, tmp_path):
    import re

    from x2softmax.gpucheck import bundle

    wheels = tmp_path / "whl"
    shutil.copytree(device_bundle, wheels)  # already downloaded: no registry call at all
    (wheels / "stale-0.1-py3-none-any.whl").write_bytes(b"")  # not pinned: removed (one version of each)
    line = bundle.main(wheels, image.python_version(), REPO)
    count, mib, tree, total = re.search(r"wheels: (\d+) wheels .*?, ([\d.]+) MiB in .*? tree ([\d.]+) MiB \+ bundle "
                                        r"= ([\d.]+) MiB", line).groups()
    assert int(count) == len(list(wheels.glob("*.whl"))) == len(list(device_bundle.glob("*.whl")))
    assert float(mib) <= 40 and float(total) <= 64 and float(tree) > 0, line
    assert "built here: none" in line and "pulp" in line.split("left out:")[1]
    archive = tmp_path / "archive"  # a downloaded archive of the tree: no git checkout
    archive.mkdir()
    shutil.copy(REPO / "pyproject.toml", archive)
    line = bundle.main(wheels, image.python_version(), archive)
    assert f"wheels: {count} wheels" in line and "tree not measured" in line and "not a git checkout" in line
