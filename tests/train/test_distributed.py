"""Two gloo processes on 127.0.0.1: the sharded head and DDP backbone match one process on the global batch."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from x2softmax.losses import build_loss
from x2softmax.models import build_backbone
from x2softmax.runspec import RunSpec
from x2softmax.torchcompat import no_forward_buffer_sync_ddp
from x2softmax.train.head import ShardedHead

CLASSES, DIM, GLOBAL_BATCH, WORLD = 5, 6, 8, 2


def _global_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return (torch.randn(GLOBAL_BATCH, DIM, generator=g), torch.randn(GLOBAL_BATCH, 3, 32, 32, generator=g),
            torch.tensor([0, 4, 1, 3, 2, 4, 0, 1]))


def _head(loss_name: str, **hparams) -> ShardedHead:
    return ShardedHead(build_loss(loss_name, **hparams), CLASSES, DIM, generator=torch.Generator().manual_seed(0))


def _backbone() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_backbone("iresnet_tiny", embedding_size=DIM, input_size=32)


def _worker(rank: int, port: int, out: str, spec: RunSpec) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    emb, images, labels = _global_batch()
    mine = slice(rank * GLOBAL_BATCH // WORLD, (rank + 1) * GLOBAL_BATCH // WORLD)
    result = {}

    head = _head("cosface", s=16.0, m=0.3)
    local = emb[mine].clone().requires_grad_(True)
    loss, acc = head(local, labels[mine])
    loss.backward()
    result.update(head_loss=loss.detach(), head_acc=acc, head_emb_grad=local.grad, head_weight_grad=head.weight.grad,
                  gathered=head.gathered_weight(), start=head.class_start)

    backbone = _backbone()
    model = no_forward_buffer_sync_ddp(backbone, None)
    head = _head("magface")
    loss, _ = head(model(images[mine]), labels[mine])
    loss.backward()
    loss_mean = loss.detach().clone()
    dist.all_reduce(loss_mean)
    result.update(ddp_loss=loss_mean / WORLD, ddp_weight_grad=head.weight.grad,
                  ddp_grads={n: p.grad for n, p in backbone.named_parameters() if p.grad is not None})

    from x2softmax.train.trainer import train

    summary = train(spec, Path(out) / "run", Path(out) / "ckpt")
    result.update(summary=summary)
    torch.save(result, Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one(tmp_path, make_spec, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))  # spawned ranks import tests.train.*
    spec = make_spec(train={"epochs": 1, "batch_size": 4, "checkpoint_every": 0})
    mp.spawn(_worker, args=(_free_port(), str(tmp_path), spec), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    emb, images, labels = _global_batch()

    # sharded head (classes split 3 + 2) == plain head on the whole batch
    head = _head("cosface", s=16.0, m=0.3)
    full = emb.clone().requires_grad_(True)
    loss, acc = head(full, labels)
    loss.backward()
    for r, res in enumerate(ranks):
        torch.testing.assert_close(res["head_loss"], loss.detach())
        assert res["head_acc"] == acc
        rows = slice(r * 4, (r + 1) * 4)
        # AllGather scales by the world size to undo DDP's averaging of backbone gradients
        torch.testing.assert_close(res["head_emb_grad"] / WORLD, full.grad[rows])
        n = res["head_weight_grad"].shape[0]
        torch.testing.assert_close(res["head_weight_grad"], head.weight.grad[res["start"] : res["start"] + n])
        torch.testing.assert_close(res["gathered"], head.weight.detach())

    # DDP backbone + sharded MagFace head == one process running each rank's half through the same backbone
    backbone, head = _backbone(), _head("magface")
    embeddings = torch.cat([backbone(images[:4]), backbone(images[4:])])  # BatchNorm statistics per rank
    loss, _ = head(embeddings, labels)
    loss.backward()
    expected = {n: p.grad for n, p in backbone.named_parameters() if p.grad is not None}
    scale = max(g.abs().max().item() for g in expected.values())
    for res in ranks:
        torch.testing.assert_close(res["ddp_loss"], loss.detach())
        assert res["ddp_grads"].keys() == expected.keys()
        for name, grad in res["ddp_grads"].items():
            torch.testing.assert_close(grad, expected[name], rtol=1e-3, atol=1e-5 * scale)
    torch.testing.assert_close(torch.cat([r["ddp_weight_grad"] for r in ranks]), head.weight.grad, rtol=1e-5, atol=1e-5)

    # the trainer under two ranks: identical weights (BatchNorm statistics stay rank-local), gathered head
    replicas = [torch.load(tmp_path / "ckpt" / f"last.rank{r}.pt", weights_only=True)["backbone"] for r in range(2)]
    weights = [k for k in replicas[0] if "running_" not in k and "num_batches" not in k]
    for key in weights:
        torch.testing.assert_close(replicas[1][key], replicas[0][key], rtol=0, atol=0)
    assert ranks[0]["summary"]["world_size"] == 2
    assert torch.load(tmp_path / "run" / "head.pt")["weight"].shape == (4, 16)
    assert {p.name for p in (tmp_path / "ckpt").iterdir()} == {"last.rank0.pt", "last.rank1.pt"}
