"""Training-step throughput of the trainer against a plain PyTorch loop, and the sharded head on 2 ranks vs 1.

Usage: python bench/train_step.py [--threads 1] [--repeats 5] [--classes 2000]
Part 1: images/s of the trainer's own step (`Trainer.train_step`: sharded head, clipping, GradScaler, schedule,
loss all-reduce, the device-side tally of non-finite values) and of a hand-written loop (backbone, normalised linear
head, margin loss, cross-entropy, SGD, clipping) on the same model weights, batches and loss, taking turns in one
process; neither reads the loss each step (the trainer's loop reads it at log steps). Target ratio >= 0.95.
Part 2: seconds per forward+backward of the head (cosface) on a global batch, split over 2 gloo ranks vs 1 rank.
The minimum over repeats is the steadier figure on a loaded machine; the median is printed beside it.
"""

from __future__ import annotations

import argparse
import copy
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from x2softmax.data.images import encode_image
from x2softmax.data.recordio import write_face_recordio
from x2softmax.losses import build_loss
from x2softmax.runspec import RunSpec
from x2softmax.train.batches import normalise_images
from x2softmax.train.head import ShardedHead
from x2softmax.train.trainer import Trainer

CASES = (("iresnet_tiny", 32, 64), ("iresnet_tiny", 56, 32), ("iresnet_small", 56, 32))


def write_faces(out_dir: Path, num_classes: int, per_class: int, size: int) -> Path:
    """Random-noise faces in RecordIO (the content does not matter for timing)."""
    rng = np.random.default_rng(0)
    samples = [(c, encode_image(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), ".png"))
               for c in range(num_classes) for _ in range(per_class)]
    return write_face_recordio(out_dir, samples, num_classes, size)


def bench_spec(train_dir: Path, backbone: str, size: int, batch: int, threads: int) -> RunSpec:
    """A one-epoch cosface run at the given shapes, without deterministic algorithms, checkpoints or validation."""
    return RunSpec.from_dict({
        "run": "bench", "loss": {"name": "cosface", "hparams": {}},
        "model": {"backbone": backbone, "embedding_size": 128, "input_size": size, "dropout": 0.0},
        "data": {"train_dir": str(train_dir), "in_memory": True, "workers": 0},
        "train": {"batch_size": batch, "epochs": 1, "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
                  "schedule": {"name": "multistep", "milestones": [], "gamma": 0.1}, "grad_clip": 5.0,
                  "amp": "none", "scaler_growth_interval": 2000, "seed": 0, "deterministic": False,
                  "checkpoint_every": 0, "log_every": 10, "threads": threads, "partial_fc": 1.0,
                  "val": {"every": 0, "data_dir": "", "sets": []}},
    })


class _PlainLoop:
    """The reference: the same backbone, class centres and loss, trained by a minimal hand-written step."""

    def __init__(self, trainer: Trainer) -> None:
        self.backbone = copy.deepcopy(trainer.backbone)
        self.weight = torch.nn.Parameter(trainer.head.weight.detach().clone())
        self.loss = build_loss(trainer.spec.loss.name)
        params = [p for p in self.backbone.parameters() if p.requires_grad] + [self.weight]
        self.optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        embeddings = self.backbone(normalise_images(images))
        cosine = F.linear(F.normalize(embeddings), F.normalize(self.weight)).clamp(-1, 1)
        loss = F.cross_entropy(self.loss.margin_logits(cosine, labels), labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.backbone.parameters(), 5.0)
        self.optimizer.step()


def bench_steps(threads: int, repeats: int, steps: int) -> None:
    """Part 1 table: images/s of trainer step and plain loop per backbone and input size."""
    print(f"{'backbone':<14}{'input':>6}{'batch':>6}{'trainer img/s':>15}{'plain img/s':>13}{'ratio (min)':>12}"
          f"{'ratio (median)':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for backbone, size, batch in CASES:
            faces = write_faces(Path(tmp) / f"faces{size}", 16, (batch * steps) // 16 + 1, size)
            trainer = Trainer(bench_spec(faces, backbone, size, batch, threads), Path(tmp) / "o", Path(tmp) / "c")
            plain = _PlainLoop(trainer)
            trainer.model.train()
            batches = list(trainer.batches.iterate(0))[:steps]
            runs: dict[str, list[float]] = {"trainer": [], "plain": []}
            for round_ in range(repeats + 1):
                for name, step in (("trainer", trainer.train_step), ("plain", plain.step))[:: 1 if round_ % 2 else -1]:
                    start = time.perf_counter()
                    for images, labels in batches:
                        step(images, labels)
                    runs[name].append(time.perf_counter() - start)
            t, p = (runs["trainer"][1:], runs["plain"][1:])  # drop the warm-up round
            images = batch * steps
            print(f"{backbone:<14}{size:>6}{batch:>6}{images / min(t):>15.1f}{images / min(p):>13.1f}"
                  f"{min(p) / min(t):>12.3f}{statistics.median(p) / statistics.median(t):>15.3f}")


def _head_worker(rank: int, world: int, port: int, classes: int, batch: int, repeats: int, queue) -> None:
    torch.set_num_threads(1)
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
    g = torch.Generator().manual_seed(0)
    embeddings = torch.randn(batch, 128, generator=g)
    labels = torch.randint(0, classes, (batch,), generator=g)
    rows = slice(rank * batch // world, (rank + 1) * batch // world)
    head = ShardedHead(build_loss("cosface"), classes, 128, generator=torch.Generator().manual_seed(0))
    times = []
    for _ in range(repeats + 1):
        x = embeddings[rows].clone().requires_grad_(True)
        if world > 1:
            dist.barrier()
        start = time.perf_counter()
        loss, _ = head(x, labels[rows])
        loss.backward()
        times.append(time.perf_counter() - start)
    if rank == 0:
        queue.put(times[1:])
    if world > 1:
        dist.destroy_process_group()


def bench_head(classes: int, batch: int, repeats: int) -> None:
    """Part 2 table: head forward+backward time on 2 ranks vs 1 (1 thread per rank)."""
    ctx = mp.get_context("spawn")
    results = {}
    for world in (1, 2):
        queue = ctx.Queue()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        procs = [ctx.Process(target=_head_worker, args=(r, world, port, classes, batch, repeats, queue))
                 for r in range(world)]
        for p in procs:
            p.start()
        results[world] = queue.get()
        for p in procs:
            p.join()
    one, two = results[1], results[2]
    print(f"\nsharded head (cosface), {classes} classes x 128-d, global batch {batch}, 1 thread per rank")
    print(f"{'ranks':>6}{'ms/step (min)':>15}{'ms/step (median)':>18}")
    for world, t in results.items():
        print(f"{world:>6}{1000 * min(t):>15.2f}{1000 * statistics.median(t):>18.2f}")
    print(f"speed-up 2 vs 1 ranks: {min(one) / min(two):.2f}x (min), "
          f"{statistics.median(one) / statistics.median(two):.2f}x (median)")


def main() -> None:
    """Run both parts and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4, help="steps per timed round")
    parser.add_argument("--classes", type=int, default=20_000)
    parser.add_argument("--head-batch", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), python {sys.version.split()[0]}")
    bench_steps(args.threads, args.repeats, args.steps)
    bench_head(args.classes, args.head_batch, args.repeats)


if __name__ == "__main__":
    main()
