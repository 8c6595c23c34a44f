"""GPU leases with fake device lists."""

from __future__ import annotations

import pytest
import torch

from x2softmax.train.devices import lease_gpus, visible_devices


def test_two_leases_get_disjoint_ids_and_release(tmp_path):
    with lease_gpus(2, lock_dir=tmp_path, visible=[0, 1, 2, 3]) as first:
        with lease_gpus(2, lock_dir=tmp_path, visible=[0, 1, 2, 3]) as second:
            assert len(first) == len(second) == 2
            assert not set(first) & set(second)
            with pytest.raises(TimeoutError, match="free GPUs"):
                with lease_gpus(1, lock_dir=tmp_path, visible=[0, 1, 2, 3], timeout_s=0.05, poll_s=0.01):
                    pass
    with lease_gpus(4, lock_dir=tmp_path, visible=[0, 1, 2, 3]) as everything:
        assert everything == [0, 1, 2, 3]


def test_cuda_visible_devices_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert visible_devices() == [5, 7]
    with lease_gpus(1, lock_dir=tmp_path) as leased:
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
