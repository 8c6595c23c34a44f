"""Forward+backward time of every margin-loss head on large cosine matrices, as a ratio to NormFace.

Usage: python bench/loss_heads.py [--threads 1] [--repeats 5] [--losses x2softmax arcface ...]
Each loss builds logits with `margin_logits`, takes the mean cross-entropy (plus `extra_loss`) and backpropagates
into a [N, C] cosine matrix that requires grad; the median and the minimum time over repeats (the minimum
is the steadier figure on a loaded machine) are divided by NormFace's, measured in the same process on the same
inputs. Target: x2softmax and arcface <= 1.15x NormFace.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch
import torch.nn.functional as F

from x2softmax.losses import available_losses, build_loss

SHAPES = ((512, 10_000), (128, 100_000))


def time_step(loss: torch.nn.Module, cosine: torch.Tensor, labels: torch.Tensor, norms: torch.Tensor) -> float:
    """Seconds of one forward+backward of `loss` on `cosine` (training mode)."""
    x = cosine.detach().requires_grad_()
    n = norms.detach().requires_grad_()
    start = time.perf_counter()
    value = F.cross_entropy(loss.margin_logits(x, labels, n), labels) + loss.extra_loss(n)
    value.backward()
    return time.perf_counter() - start


def time_heads(
    names: list[str], cosine: torch.Tensor, labels: torch.Tensor, norms: torch.Tensor, repeats: int
) -> dict[str, list[float]]:
    """Seconds per loss and repeat (after one warm-up); the losses take turns, in a shuffled order each round, so
    machine load and allocator state hit them alike."""
    losses = {name: build_loss(name) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    order = random.Random(0)
    for _ in range(repeats + 1):
        for name in order.sample(names, len(names)):
            times[name].append(time_step(losses[name], cosine, labels, norms))
    return {name: t[1:] for name, t in times.items()}


def main() -> None:
    """Print a table of times and ratios to NormFace for each shape."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--losses", nargs="*", default=[n for n in available_losses() if n != "softmax"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, median of {args.repeats}")
    for n_rows, n_classes in SHAPES:
        cosine = (torch.rand(n_rows, n_classes) * 0.6 - 0.3).contiguous()
        labels = torch.randint(0, n_classes, (n_rows,))
        cosine[torch.arange(n_rows), labels] = torch.rand(n_rows) * 0.8 + 0.1
        norms = torch.rand(n_rows) * 40 + 10
        names = ["normface"] + [n for n in args.losses if n != "normface"]
        times = time_heads(names, cosine, labels, norms, args.repeats)
        base_med, base_min = statistics.median(times["normface"]), min(times["normface"])
        print(f"\n[{n_rows}, {n_classes}]")
        print(f"{'loss':<22}{'median ms':>10}{'x normface':>12}{'min ms':>9}{'x normface':>12}")
        for name, t in times.items():
            med, low = statistics.median(t), min(t)
            print(f"{name:<22}{med * 1e3:>10.1f}{med / base_med:>12.2f}{low * 1e3:>9.1f}{low / base_min:>12.2f}")


if __name__ == "__main__":
    main()
