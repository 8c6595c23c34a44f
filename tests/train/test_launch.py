"""launch(): CPU fallback in-process, torchrun for several GPUs with the exit code propagated; the worker CLI."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess

import pytest
import torch

from x2softmax.train import devices as devices_module
from x2softmax.train import launch as launch_module
from x2softmax.train.worker import main as worker_main


def test_launch_without_gpus_trains_in_process(tmp_path, make_spec, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    launch_module.launch(make_spec(train={"epochs": 1}), tmp_path / "out", tmp_path / "ckpt", gpus=1)
    assert (tmp_path / "out" / "summary.json").is_file()
    assert "CPU" in capsys.readouterr().err


def test_launch_with_two_gpus_runs_torchrun_and_propagates_failure(tmp_path, make_spec, monkeypatch):
    @contextlib.contextmanager
    def fake_lease(n):
        yield [3, 5]

    seen = {}

    def fake_run(cmd):
        seen["cmd"], seen["visible"] = cmd, os.environ.get("CUDA_VISIBLE_DEVICES")
        return subprocess.CompletedProcess(cmd, 3)

    monkeypatch.setattr(devices_module, "lease_gpus", fake_lease)
    monkeypatch.setattr(launch_module.subprocess, "run", fake_run)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    spec = make_spec()
    with pytest.raises(SystemExit) as exit_info:
        launch_module.launch(spec, tmp_path / "out", tmp_path / "ckpt", gpus=2)
    assert exit_info.value.code == 3
    assert seen["visible"] == "3,5" and "CUDA_VISIBLE_DEVICES" not in os.environ
    assert "--nproc_per_node=2" in seen["cmd"] and "x2softmax.train.worker" in seen["cmd"]
    spec_file = seen["cmd"][seen["cmd"].index("--spec-file") + 1]
    assert json.loads(open(spec_file).read()) == spec.to_dict()


def test_worker_entry_point(tmp_path, make_spec, capsys):
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(make_spec(train={"epochs": 1}).to_json())
    worker_main(["--spec-file", str(spec_file), "--out", str(tmp_path / "out"), "--ckpt", str(tmp_path / "ckpt")])
    assert (tmp_path / "out" / "backbone.pt").is_file()
    with pytest.raises(SystemExit):
        worker_main(["--spec-file", str(tmp_path / "missing.json"), "--out", "o", "--ckpt", "c"])
    bad = json.loads(spec_file.read_text())
    bad["train"]["lr"] = "fast"
    spec_file.write_text(json.dumps(bad))
    with pytest.raises(SystemExit):
        worker_main(["--spec-file", str(spec_file), "--out", "o", "--ckpt", "c"])
    assert "run spec key 'train.lr': expected a number, got 'fast'" in capsys.readouterr().err
