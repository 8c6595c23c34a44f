"""Training batches: a seeded per-epoch plan (shuffle, rank striding, flips) served from memory or RecordIO."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from x2softmax.data.images import resize


def normalise_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B, H, W, 3] RGB -> float32 [B, 3, H, W] with (x/255 - 0.5)/0.5."""
    return images.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


class EpochPlan:
    """Which images (and which flips) each rank sees at each step: a seeded permutation per epoch, strided by rank,
    cut into full batches (the tail that does not fill a batch on every rank is dropped)."""

    def __init__(self, num_images: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.num_images, self.batch_size, self.seed = num_images, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.steps_per_epoch = num_images // world_size // batch_size
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"{num_images} training images are fewer than one batch of {batch_size} on each of {world_size} ranks"
            )

    def epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices int64 [S, B], horizontal flips bool [S, B]) of this rank for `epoch`."""
        order = np.random.default_rng([self.seed, epoch]).permutation(self.num_images)
        mine = order[self.rank :: self.world_size][: self.steps_per_epoch * self.batch_size]
        flips = np.random.default_rng([self.seed, epoch, 1 + self.rank]).random(mine.size) < 0.5
        shape = (self.steps_per_epoch, self.batch_size)
        return mine.reshape(shape), flips.reshape(shape)


class InMemoryBatches:
    """Batches cut from images decoded once into memory (uint8 [N, S, S, 3])."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, plan: EpochPlan) -> None:
        self.images, self.labels, self.plan = images, torch.from_numpy(np.asarray(labels, dtype=np.int64)), plan

    def iterate(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(uint8 images [B, S, S, 3], int64 labels [B]) for steps start_step.. of `epoch`."""
        indices, flips = self.plan.epoch(epoch)
        for step in range(start_step, self.plan.steps_per_epoch):
            batch = self.images[indices[step]]
            batch[flips[step]] = batch[flips[step], :, ::-1]
            yield torch.from_numpy(batch), self.labels[indices[step]]


class _FlippedFaces(torch.utils.data.Dataset):
    """RecordIO faces indexed by (image index, flip), resized to the input size when the stored size differs."""

    def __init__(self, train_dir: Path, input_size: int) -> None:
        from x2softmax.data.recordio import RecordIODataset

        self.faces = RecordIODataset(train_dir)
        self.input_size = input_size

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, item: tuple[int, bool]) -> tuple[torch.Tensor, int]:
        index, flip = item
        image, label = self.faces[int(index)]
        image = resize(image, self.input_size)
        return torch.from_numpy(np.ascontiguousarray(image[:, ::-1] if flip else image)), label


class _PlanSampler(torch.utils.data.Sampler):
    """Batch sampler replaying an epoch plan from a given step."""

    def __init__(self, indices: np.ndarray, flips: np.ndarray, start_step: int) -> None:
        self.indices, self.flips, self.start_step = indices, flips, start_step

    def __len__(self) -> int:
        return len(self.indices) - self.start_step

    def __iter__(self) -> Iterator[list[tuple[int, bool]]]:
        for step in range(self.start_step, len(self.indices)):
            yield list(zip(self.indices[step].tolist(), self.flips[step].tolist(), strict=True))


class StreamedBatches:
    """Batches decoded on the fly from RecordIO by a DataLoader (`workers` processes)."""

    def __init__(self, train_dir: Path, input_size: int, plan: EpochPlan, workers: int, pin_memory: bool) -> None:
        self.faces = _FlippedFaces(train_dir, input_size)
        self.plan, self.workers, self.pin_memory = plan, workers, pin_memory

    def iterate(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(uint8 images [B, S, S, 3], int64 labels [B]) for steps start_step.. of `epoch`."""
        indices, flips = self.plan.epoch(epoch)
        loader = torch.utils.data.DataLoader(
            self.faces,
            batch_sampler=_PlanSampler(indices, flips, start_step),
            num_workers=self.workers,
            pin_memory=self.pin_memory,
        )
        for images, labels in loader:
            yield images, labels.long()
