"""GPU leases with fake device lists and fake environments: one machine, Slurm, Kubernetes, a user's devices."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from x2softmax.train import devices as devices_module
from x2softmax.train.devices import (default_lock_dir, gpu_build, lease_decision, lease_gpus, machine_gpus,
                                     visible_devices)

LOCAL = {"X2S_GPU_LEASE": "1"}  # what a local Snakemake run exports to its jobs


def assigned_by(environ: dict[str, str]) -> str | None:
    """Who gave this process its GPUs (so it takes no lease): 'Slurm', 'Kubernetes', 'CUDA_VISIBLE_DEVICES',
    'X2S_GPU_LEASE=0', or None (lease them)."""
    return lease_decision(environ)[0]


def test_two_leases_get_disjoint_ids_and_release(tmp_path):
    with lease_gpus(2, lock_dir=tmp_path, visible=[0, 1, 2, 3], environ=LOCAL) as first:
        with lease_gpus(2, lock_dir=tmp_path, visible=[0, 1, 2, 3], environ=LOCAL) as second:
            assert len(first) == len(second) == 2
            assert not set(first) & set(second)
            with pytest.raises(TimeoutError, match="free GPUs"):
                with lease_gpus(1, lock_dir=tmp_path, visible=[0, 1, 2, 3], timeout_s=0.05, poll_s=0.01,
                                environ=LOCAL):
                    pass
    with lease_gpus(4, lock_dir=tmp_path, visible=[0, 1, 2, 3], environ=LOCAL) as everything:
        assert everything == [0, 1, 2, 3]


def test_cuda_visible_devices_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert visible_devices() == [5, 7]
    with lease_gpus(1, lock_dir=tmp_path, environ=LOCAL) as leased:  # a local run leases among the user's ids
        assert leased in ([5], [7])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-abc")
    with pytest.raises(ValueError, match="CUDA_VISIBLE_DEVICES"):
        visible_devices()


def test_no_gpu_yields_cpu_with_a_notice(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with lease_gpus(1, lock_dir=tmp_path) as leased:
        assert leased == []
    assert "CPU" in capsys.readouterr().err
    with lease_gpus(0, lock_dir=tmp_path, visible=[0]) as leased:
        assert leased == []
    with pytest.raises(ValueError, match="only 1 visible"):
        with lease_gpus(2, lock_dir=tmp_path, visible=[0]):
            pass


@pytest.mark.parametrize(("environ", "owner"), [
    ({"SLURM_JOB_ID": "17", "CUDA_VISIBLE_DEVICES": "0"}, "Slurm"),
    ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, "Kubernetes"),
    ({"CUDA_VISIBLE_DEVICES": "0"}, "CUDA_VISIBLE_DEVICES"),
    ({"X2S_GPU_LEASE": "0"}, "X2S_GPU_LEASE=0"),
])
def test_assigned_devices_are_used_as_given_without_a_lock(tmp_path, capsys, environ, owner):
    assert assigned_by(environ) == owner
    locks = tmp_path / "locks"
    with lease_gpus(1, lock_dir=locks, visible=[0], environ=environ) as first:
        with lease_gpus(1, lock_dir=locks, visible=[0], environ=environ, timeout_s=0.05, poll_s=0.01) as second:
            assert first == second == [0]  # two jobs that each see their own GPU as 0 do not wait for each other
    assert not locks.exists()
    assert f"given by {owner}" in capsys.readouterr().err
    with pytest.raises(ValueError, match="only 1 visible"):
        with lease_gpus(2, lock_dir=locks, visible=[0], environ=environ):
            pass


IN_JOB = {"SLURM_JOB_ID": "17", "X2S_GPU_LEASE": "1", "X2S_GPU_LEASE_JOB": "Slurm 17"}  # a local run in salloc 17


@pytest.mark.parametrize("environ", [{}, LOCAL, IN_JOB, {**LOCAL, "CUDA_VISIBLE_DEVICES": "1"}])
def test_jobs_without_a_scheduler_lease(environ):
    assert assigned_by(environ) is None  # nobody gave devices, or a local run (also inside an allocation) shares them


@pytest.mark.parametrize("environ", [
    {**LOCAL, "SLURM_JOB_ID": "18"},  # sbatch --export=ALL from a shell where a local run had set it
    {**IN_JOB, "SLURM_JOB_ID": "18"},  # set in allocation 17, inherited by job 18
    {**LOCAL, "X2S_GPU_LEASE_JOB": "", "KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "pod-a"},
])
def test_a_lease_setting_inherited_into_a_scheduler_job_is_ignored_and_said(tmp_path, capsys, environ):
    owner = "Slurm" if "SLURM_JOB_ID" in environ else "Kubernetes"
    assert assigned_by(environ) == owner
    with lease_gpus(1, lock_dir=tmp_path / "locks", visible=[0], environ=environ) as leased:
        assert leased == [0]
    assert not (tmp_path / "locks").exists()
    line = next(l for l in capsys.readouterr().err.splitlines() if "GPU lease decision" in l)
    assert f"as given by {owner}" in line and "X2S_GPU_LEASE=1 ignored" in line, line


def test_the_decision_is_printed_also_without_a_gpu(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with lease_gpus(1, lock_dir=tmp_path, environ={"SLURM_JOB_ID": "5"}) as leased:
        assert leased == []
    err = capsys.readouterr().err
    assert "GPU lease decision: GPUs as given by Slurm (Slurm 5), no lease" in err and "CPU" in err


def test_a_local_run_inside_an_allocation_locks_per_job(tmp_path, monkeypatch):
    monkeypatch.setenv("X2S_GPU_LOCK_DIR", str(tmp_path))
    monkeypatch.setattr(socket, "gethostname", lambda: "node7")
    monkeypatch.setenv("SLURM_JOB_ID", "17")
    assert default_lock_dir() == tmp_path / "node7/Slurm-17"  # device ids are local to allocation 17


def test_bad_lease_setting_is_one_clear_error():
    with pytest.raises(ValueError, match="X2S_GPU_LEASE='yes'"):
        assigned_by({"X2S_GPU_LEASE": "yes"})


def test_locks_are_per_host(tmp_path, monkeypatch):
    for var in ("SLURM_JOB_ID", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("X2S_GPU_LOCK_DIR", str(tmp_path))
    monkeypatch.setattr(socket, "gethostname", lambda: "node7")
    assert default_lock_dir() == tmp_path / "node7"
    monkeypatch.delenv("X2S_GPU_LOCK_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_lock_dir() == tmp_path / "home/.cache/x2softmax/gpu-locks/node7"


def test_machine_gpus_counts_visible_devices_or_takes_x2s_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("X2S_GPUS", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert machine_gpus() == 4
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert machine_gpus() == 2
    monkeypatch.setenv("X2S_GPUS", "1")
    assert machine_gpus() == 1
    monkeypatch.setenv("X2S_GPUS", "all")
    with pytest.raises(ValueError, match="X2S_GPUS='all'"):
        machine_gpus()


def test_gpu_environment_exposes_only_the_leased_devices(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("X2S_GPU_LEASE", "1")
    monkeypatch.setenv("X2S_GPU_LOCK_DIR", str(tmp_path))
    with devices_module.gpu_environment(2) as devices:
        assert len(devices) == 2
        assert devices_module.os.environ["CUDA_VISIBLE_DEVICES"] == ",".join(map(str, devices))
    assert "CUDA_VISIBLE_DEVICES" not in devices_module.os.environ


def test_the_gpu_build_is_read_from_torch_version_as_torch_tells_it(tmp_path):
    import torch.version

    assert gpu_build(Path(torch.version.__file__)) == (torch.version.cuda is not None or torch.version.hip is not None)
    version = tmp_path / "version.py"
    for text, built in (("cuda: Optional[str] = None\nhip: Optional[str] = None\n", False),
                        ("cuda: Optional[str] = '12.8'\nhip: Optional[str] = None\n", True),
                        ("cuda = None\nhip = '6.4.0'\n", True), ("cuda = None\n", True), ("cuda = (\n", True)):
        version.write_text(text)
        assert gpu_build(version) == built, text
    assert gpu_build(tmp_path / "missing.py")


@pytest.mark.parametrize("gpu_built", [False, True])
def test_a_torch_built_without_gpus_is_not_imported_to_count_them(gpu_built):
    """machine_gpus in a process without torch (a Snakemake main process): a torch built for neither CUDA nor ROCm
    has no GPU to count, so it is not imported; one built for either is imported and asked."""
    probe = ("import sys; from x2softmax.train import devices\n"
             f"devices.gpu_build = lambda version_file: {gpu_built}\n"
             "print(devices.machine_gpus(), 'torch' in sys.modules)")
    env = {k: v for k, v in devices_module.os.environ.items() if k not in ("X2S_GPUS", "CUDA_VISIBLE_DEVICES")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    count, imported = done.stdout.split()
    assert imported == str(gpu_built) and (gpu_built or count == "0"), done.stdout
