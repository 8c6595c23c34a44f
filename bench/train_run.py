"""The embedded default's training run: cost per step with and without PyTorch's NaN fill of uninitialised memory
(its default under deterministic algorithms; the trainer turns it off), and the run's steps before and after the
cut from 6 epochs to the default's current count. Both settings take turns in one process on the same trainer,
weights and batches.

Usage: python bench/train_run.py [--threads 1] [--repeats 5] [--steps 8]
Prints the median and minimum seconds per step of each setting, their ratio, the resulting run-time ratio, and the
share of CPU time the profiler attributes to aten::fill_ under each setting (steadier than wall time on a loaded
machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import bench_spec, write_faces  # noqa: E402

from x2softmax import config as xcfg  # noqa: E402
from x2softmax.train.trainer import Trainer  # noqa: E402

OLD_EPOCHS = 6  # the embedded default's epochs before the first cut
NEW_EPOCHS = xcfg.load_config()["train"]["epochs"]  # the default's epochs now


def _fill_share(trainer: Trainer, images: torch.Tensor, labels: torch.Tensor, fill: bool) -> float:
    """Share of the profiled CPU time spent in aten::fill_ over two steps."""
    from torch.profiler import ProfilerActivity, profile

    torch.utils.deterministic.fill_uninitialized_memory = fill
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            trainer.train_step(images, labels)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    return sum(e.self_cpu_time_total for e in events if e.key == "aten::fill_") / max(total, 1e-9)


def main() -> None:
    """Time both settings in turns and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        faces = write_faces(Path(tmp) / "faces", 300, 8, 32)
        spec = bench_spec(faces, "iresnet_tiny", 32, 128, args.threads).updated(
            train={"deterministic": True})  # as the embedded default
        trainer = Trainer(spec, Path(tmp) / "o", Path(tmp) / "c")
        images, labels = next(trainer.batches.iterate(0, 0))
        trainer.train_step(images, labels)  # warm-up
        shares = {fill: _fill_share(trainer, images, labels, fill) for fill in (True, False)}
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.repeats):
            for fill in (True, False):
                torch.utils.deterministic.fill_uninitialized_memory = fill
                start = time.perf_counter()
                for _ in range(args.steps):
                    trainer.train_step(images, labels)
                times[fill].append((time.perf_counter() - start) / args.steps)
    for fill, label in ((True, "NaN fill on (PyTorch default)"), (False, "NaN fill off (trainer)")):
        print(f"{label:32s} aten::fill_ {shares[fill]:.1%} of CPU time; median {statistics.median(times[fill]):.4f} s/step, min {min(times[fill]):.4f} s/step")
    step_ratio = min(times[False]) / min(times[True])
    print(f"step time ratio off/on (min): {step_ratio:.3f}")
    print(f"run time ratio with {NEW_EPOCHS} instead of {OLD_EPOCHS} epochs: {step_ratio * NEW_EPOCHS / OLD_EPOCHS:.3f}")


if __name__ == "__main__":
    main()
