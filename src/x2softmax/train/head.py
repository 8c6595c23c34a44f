"""Classifier head: class centres sharded over ranks, optional partial FC, margin loss per shard."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from x2softmax.train import distributed as D
from x2softmax.train.saturation import target_log_probs


def shard_range(num_classes: int, rank: int, world_size: int) -> tuple[int, int]:
    """(first class, class count) of a rank's contiguous block, as arcface_torch splits classes."""
    count = num_classes // world_size + int(rank < num_classes % world_size)
    start = num_classes // world_size * rank + min(rank, num_classes % world_size)
    return start, count


class ShardedHead(nn.Module):
    """Normalised class centres [C_local, D] with a margin loss; on one process it is the plain head.

    `loss` is a margin-loss module (x2softmax.losses) with `margin_logits(cosine, labels, norms=None, all_local=...)`,
    `needs_norms`, `raw_logits` and `extra_loss(norms)`. `sample_rate < 1` turns on partial FC: each step keeps
    all positive classes of the global batch and a random subset of the others, `int(sample_rate * C_local)` in all.
    """

    def __init__(
        self,
        loss: nn.Module,
        num_classes: int,
        embedding_size: int,
        sample_rate: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if num_classes < 1 or embedding_size < 1:
            raise ValueError(f"head needs num_classes >= 1 and embedding_size >= 1, got {num_classes}, {embedding_size}")
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"partial_fc sample rate must be in (0, 1], got {sample_rate}")
        self.loss = loss
        self.num_classes = num_classes
        self.rank, self.world_size = D.rank(), D.world_size()
        if num_classes < self.world_size:
            raise ValueError(f"{num_classes} classes cannot be split over {self.world_size} ranks")
        self.class_start, self.num_local = shard_range(num_classes, self.rank, self.world_size)
        self.sample_rate = sample_rate
        self.num_sample = max(1, int(sample_rate * self.num_local))
        # The full matrix is drawn once from the (rank-independent) generator, so any world size starts alike.
        full = torch.normal(0.0, 0.01, (num_classes, embedding_size), generator=generator)
        self.weight = nn.Parameter(full[self.class_start : self.class_start + self.num_local].clone())
        self.target_log_prob = torch.empty(0, dtype=torch.float64)  # of the last forward pass (see `forward`)

    def _localise(self, labels: torch.Tensor) -> torch.Tensor:
        """Global class ids -> this shard's ids, -1 where the class is held by another rank."""
        local = labels - self.class_start
        return torch.where((local >= 0) & (local < self.num_local), local, torch.full_like(local, -1))

    def _sample(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Partial FC: (sampled weight rows, labels re-indexed into them), positives always kept."""
        here = labels >= 0
        positive = torch.unique(labels[here], sorted=True)
        if self.num_sample <= positive.numel():
            index = positive
        else:
            score = torch.rand(self.num_local, device=self.weight.device)
            score[positive] = 2.0
            index = torch.topk(score, k=self.num_sample).indices.sort().values
        sampled = labels.clone()
        sampled[here] = torch.searchsorted(index, labels[here])
        return self.weight[index], sampled

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Local embeddings [B, D] and labels [B] -> (loss to backpropagate, top-1 accuracy of the plain cosine).

        Both are computed over the global batch; with a margin loss needing norms, its extra term is taken over
        this rank's own samples (DDP averages it over ranks), so the loss may differ slightly between ranks.
        `self.target_log_prob` is left holding log p_y (float64 [B_global], no gradient) under the loss's final
        logits, for the trainer's saturation diagnostic (x2softmax.train.saturation).
        """
        embeddings = embeddings.float()
        all_embeddings = D.all_gather_with_grad(embeddings)
        local_labels = self._localise(D.all_gather_tensor(labels.long()))
        weight = self.weight
        if self.sample_rate < 1.0:
            weight, local_labels = self._sample(local_labels)
        if self.loss.raw_logits:
            cosine = F.linear(all_embeddings, weight)
        else:
            cosine = F.linear(F.normalize(all_embeddings), F.normalize(weight)).clamp(-1.0, 1.0)
        norms = all_embeddings.norm(dim=1, keepdim=True) if self.loss.needs_norms else None
        logits = self.loss.margin_logits(cosine, local_labels, norms=norms, all_local=self.world_size == 1)
        loss = D.sharded_cross_entropy(logits, local_labels)
        self.target_log_prob = target_log_probs(logits, local_labels)
        if self.loss.needs_norms:
            loss = loss + self.loss.extra_loss(embeddings.norm(dim=1, keepdim=True))
        return loss, self._accuracy(cosine.detach(), local_labels)

    def _accuracy(self, cosine: torch.Tensor, local_labels: torch.Tensor) -> torch.Tensor:
        """Fraction of the global batch whose target cosine is the largest over all (sampled) classes."""
        best = cosine.max(dim=1).values
        here = local_labels >= 0  # gather then mask: boolean indexing would wait for the device every step
        picked = cosine.gather(1, local_labels.clamp(min=0).unsqueeze(1)).squeeze(1)
        target = torch.where(here, picked, torch.zeros_like(picked))
        if D.is_distributed():
            torch.distributed.all_reduce(best, torch.distributed.ReduceOp.MAX)
            torch.distributed.all_reduce(target, torch.distributed.ReduceOp.SUM)
        return (target >= best).float().mean()

    @torch.no_grad()
    def gathered_weight(self) -> torch.Tensor:
        """The full class-centre matrix [C, D] (gathered from every rank's shard), on the CPU."""
        if not D.is_distributed():
            return self.weight.detach().cpu().clone()
        rows = shard_range(self.num_classes, 0, self.world_size)[1]
        padded = torch.zeros(rows, self.weight.shape[1], dtype=self.weight.dtype, device=self.weight.device)
        padded[: self.num_local] = self.weight
        gathered = D.all_gather_tensor(padded).view(self.world_size, rows, -1)
        counts = [shard_range(self.num_classes, r, self.world_size)[1] for r in range(self.world_size)]
        return torch.cat([gathered[r, :n] for r, n in enumerate(counts)]).cpu()
