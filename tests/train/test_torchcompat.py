"""torch 2.11 compatibility: DDP without `forward_sync_buffers` gives the same buffer semantics as torch 2.13's.

The registry has no CPU build of torch 2.11, so the older API is simulated: a DistributedDataParallel subclass whose
constructor lacks the newer argument (as 2.11's does), swapped in inside each spawned rank.
"""

from __future__ import annotations

import socket
import warnings
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from x2softmax import torchcompat

WORLD = 2


class Torch211DDP(nn.parallel.DistributedDataParallel):
    """torch 2.11's constructor signature: `broadcast_buffers`, no `forward_sync_buffers`."""

    def __init__(self, module: nn.Module, device_ids: list[int] | None = None, broadcast_buffers: bool = True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # 2.13 deprecates the argument 2.11 has
            super().__init__(module, device_ids=device_ids, broadcast_buffers=broadcast_buffers)


def _worker(rank: int, port: int, out: str, older: bool) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    if older:
        nn.parallel.DistributedDataParallel = Torch211DDP  # this spawned process only
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    with torch.no_grad():
        module[1].running_mean.fill_(float(rank + 1))  # rank-local buffers before wrapping
    model = torchcompat.no_forward_buffer_sync_ddp(module, None)
    at_init = module[1].running_mean.clone()
    model(torch.full((5, 3), float(rank)) + torch.arange(15.0).reshape(5, 3))  # BatchNorm updates its statistics
    torch.save({"init": at_init, "after_forward": module[1].running_mean.clone(), "type": type(model).__name__,
                "forward_sync": bool(model.forward_sync_buffers)}, Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_simulated_older_ddp_lacks_the_argument_and_the_current_one_has_it():
    assert torchcompat.ddp_has_forward_sync_buffers()
    assert not torchcompat.ddp_has_forward_sync_buffers(Torch211DDP)


@pytest.mark.parametrize("older", [False, True], ids=["torch-2.13-api", "torch-2.11-api"])
def test_buffers_synced_at_construction_and_rank_local_after_forward(tmp_path, older, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))  # spawned ranks import tests.train.*
    mp.spawn(_worker, args=(_free_port(), str(tmp_path), older), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    assert all(r["type"] == ("Torch211DDP" if older else "DistributedDataParallel") for r in ranks)
    assert not any(r["forward_sync"] for r in ranks)
    torch.testing.assert_close(ranks[1]["init"], ranks[0]["init"], rtol=0, atol=0)  # rank 0's buffers everywhere
    assert float(ranks[0]["init"][0]) == 1.0
    assert not torch.equal(ranks[0]["after_forward"], ranks[1]["after_forward"])  # never synced at forward
