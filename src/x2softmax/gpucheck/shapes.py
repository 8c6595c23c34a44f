"""The shapes of gpu-check: the paper's on a GPU, tiny ones on the CPU (dry mode), same code either way."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Shapes:
    """Model, head, batch and step counts of one gpu-check mode."""

    device: str
    backbone: str
    input_size: int
    embedding_size: int
    num_classes: int
    batch_size: int
    warmup_steps: int
    timed_steps: int
    loader_workers: int
    eval_images: int
    eval_batch_size: int
    ijb_templates: int
    ijb_pairs: int
    resume_steps: int
    enforce_targets: bool  # throughput targets are judged on a GPU only (CPU timings on a shared host are noise)


# iResNet-50 at 112x112, batch 128, the MS1MV3 head; IJB-C's template and pair counts.
GPU = Shapes(device="cuda", backbone="r50", input_size=112, embedding_size=512, num_classes=93431, batch_size=128,
             warmup_steps=5, timed_steps=30, loader_workers=8, eval_images=4096,
             eval_batch_size=256, ijb_templates=23124, ijb_pairs=15658489, resume_steps=8, enforce_targets=True)

DRY = Shapes(device="cpu", backbone="iresnet_tiny", input_size=32, embedding_size=32, num_classes=1000, batch_size=8,
             warmup_steps=1, timed_steps=2, loader_workers=1, eval_images=16,
             eval_batch_size=8, ijb_templates=200, ijb_pairs=20000, resume_steps=3, enforce_targets=False)
