"""The lent GPU machine simulated (conftest.py): its package set only, no index, the bundle installed with --target.

tools/device-gpu-check.sh must pass there with --dry and with the real smoke workflow on the CPU, and must fail,
naming the wheel, when one is removed from the bundle.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from x2softmax.cli import main as cli
from x2softmax.gpucheck import CHECKS, needs

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "device-gpu-check.sh"


@pytest.fixture
def device_call(device_environment):
    """Run the device script (first arg --dry, then OUT, then gpu-check options); (process, its one JSON line)."""
    def call(python: Path, wheels: Path, site: Path, out: Path, *args: str, timeout: float = 1500):
        # CPU budgets: the smoke workflow gets 0.6 x 1200 s for its two calls (its GPU cap is 240 s)
        env = {**device_environment(python, wheels, site), "BUDGET_S": "1200", "HARD_LIMIT_S": "1400"}
        done = subprocess.run([str(SCRIPT), *args[:1], str(out), *args[1:]], cwd=REPO, capture_output=True,
                              text=True, env=env, timeout=timeout)
        lines = done.stdout.strip().splitlines()
        assert len(lines) == 1, done.stdout[-2000:] + done.stderr[-2000:]  # one JSON line on stdout
        return done, json.loads(lines[0])
    return call
def test_the_simulated_machine_lacks_what_the_bundle_adds(device_python, device_bundle, device_environment):
    done = subprocess.run([str(device_python), "-c", "import torch, numpy, pandas, yaml, jinja2; import snakemake"],
                          capture_output=True, text=True,
                          env=device_environment(device_python, device_bundle, Path("/nonexistent")))
    assert done.returncode != 0 and "No module named 'snakemake'" in done.stderr
    names = {needs.wheel_name(w)[0] for w in device_bundle.glob("*.whl")}
    assert {"snakemake", "jsonschema", "papermill", "nbconvert", "nbformat", "ipykernel", "connection-pool",
            "tinycss2"} <= names
    assert not names & set(needs.LEFT_OUT) and not names & needs.device_packages()
    assert len(names) == len(list(device_bundle.glob("*.whl")))  # one version of each


def test_a_wheel_removed_from_the_bundle_fails_the_preflight_naming_it(device_python, device_bundle, device_call,
                                                                     tmp_path):
    wheels = tmp_path / "whl"
    shutil.copytree(device_bundle, wheels)
    (removed,) = wheels.glob("connection_pool-*.whl")  # a dependency of a dependency, built here
    removed.unlink()
    done, summary = device_call(device_python, wheels, tmp_path / "site", tmp_path / "out", "--dry", timeout=120)
    assert done.returncode == 2 and not summary["ok"] and summary["error"] == "preflight failed"
    assert "no wheel in" in summary["preflight"] and "connection-pool" in summary["preflight"].split("for:")[-1]
    assert not (tmp_path / "site").exists()  # nothing installed once a wheel is known to be missing


@pytest.mark.e2e
def test_the_device_command_passes_dry_and_its_summary_prices_no_plan(device_python, device_bundle, device_call,
                                                                     tmp_path):
    out = tmp_path / "out"
    done, summary = device_call(device_python, device_bundle, tmp_path / "site", out, "--dry")
    assert done.returncode == 0, done.stderr[-3000:]
    preflight = done.stderr.splitlines()[0]
    assert preflight.startswith("preflight: Python") and "snakemake" in preflight and "torch 2." in preflight
    assert "preflight: ok:" in done.stderr
    assert summary == json.loads((out / "gpu_check.json").read_text())
    assert summary["ok"] and summary["finished"] and summary["mode"] == "dry" and set(summary["checks"]) == set(CHECKS)
    assert summary["checks"]["smoke_workflow"]["planned"]  # the dry mode plans the smoke workflow
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
def test_the_device_command_runs_the_real_smoke_workflow(device_python, device_bundle, device_call, tmp_path):
    out = tmp_path / "out"
    done, summary = device_call(device_python, device_bundle, tmp_path / "site", out, "--dry", "--checks",
                                 "smoke_workflow", "--run-smoke")
    smoke = summary["checks"]["smoke_workflow"]
    assert done.returncode == 0 and summary["ok"], json.dumps(smoke)[-3000:]
    assert smoke["ran"] and smoke["nan_free"] and smoke["not_measurable_cells"] > 0  # NaN by design, noted
    assert smoke["above_chance"] and smoke["second_run_does_nothing"]


@pytest.mark.slow  # device_bundle: pip downloads the wheels (a process started by the package)
def test_the_bundle_command_prints_its_size_and_fits_the_carry_limit(device_bundle, tmp_path):
    import re
    import sys

    from x2softmax.gpucheck import bundle

    wheels = tmp_path / "whl"
    shutil.copytree(device_bundle, wheels)  # already downloaded: pip finds every file in place
    (wheels / "stale-0.1-py3-none-any.whl").write_bytes(b"")  # not pinned: removed (one version of each)
    line = bundle.main(wheels, f"{sys.version_info.major}.{sys.version_info.minor}", REPO)
    count, mib, tree, total = re.search(r"wheels: (\d+) wheels .*?, ([\d.]+) MiB in .*? tree ([\d.]+) MiB \+ bundle "
                                        r"= ([\d.]+) MiB", line).groups()
    assert int(count) == len(list(wheels.glob("*.whl"))) == len(list(device_bundle.glob("*.whl")))
    assert float(mib) <= 20 and float(total) <= 30 and float(tree) > 0, line
    assert "connection-pool" in line.split("built here:")[1] and "pulp" in line.split("left out:")[1]
