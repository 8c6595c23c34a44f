"""Process-group helpers and the two autograd-aware collectives the sharded head needs."""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True when a process group with more than one rank is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of ranks (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


class _AllGatherWithGrad(torch.autograd.Function):
    """Concatenate equal-sized tensors from all ranks; the backward sums the gradients of every rank's slice.

    The summed gradient is multiplied by the world size because DistributedDataParallel divides the backbone's
    gradients by it again (as arcface_torch's AllGather does), so the net gradient is that of the global loss.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        ctx.rows = tensor.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad, dist.ReduceOp.SUM)
        start = dist.get_rank() * ctx.rows
        return grad[start : start + ctx.rows] * dist.get_world_size()


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Rows of every rank concatenated in rank order, differentiable (identity on one process)."""
    if not is_distributed():
        return tensor
    return _AllGatherWithGrad.apply(tensor)


def all_gather_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """Rows of every rank concatenated in rank order, without gradient (identity on one process)."""
    if not is_distributed():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of a tensor over ranks (a detached copy; the value itself on one process)."""
    value = value.detach().clone()
    if is_distributed():
        dist.all_reduce(value, dist.ReduceOp.SUM)
        value /= dist.get_world_size()
    return value


class _ShardedCrossEntropy(torch.autograd.Function):
    """Softmax cross-entropy whose classes are split over ranks (arcface_torch's DistCrossEntropy).

    Each rank holds logits [B, C_local] of the same global batch; labels are local class ids or -1 where the
    target lives on another rank. The loss is the mean over the global batch, identical on every rank.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        max_logit = logits.max(dim=1, keepdim=True).values
        dist.all_reduce(max_logit, dist.ReduceOp.MAX)
        exp = (logits - max_logit).exp_()
        sum_exp = exp.sum(dim=1, keepdim=True)
        dist.all_reduce(sum_exp, dist.ReduceOp.SUM)
        here = (labels >= 0).unsqueeze(1)  # gather then mask: boolean indexing would wait for the device
        picked = logits.gather(1, labels.clamp(min=0).unsqueeze(1))
        target = torch.where(here, picked, torch.zeros_like(picked))
        dist.all_reduce(target, dist.ReduceOp.SUM)
        probs = exp.div_(sum_exp)
        ctx.save_for_backward(probs, labels)
        return (max_logit + sum_exp.log() - target).mean()

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        probs, labels = ctx.saved_tensors
        grad = probs.clone()
        rows = torch.nonzero(labels >= 0).squeeze(1)
        grad[rows, labels[rows]] -= 1.0
        return grad * (grad_loss / probs.shape[0]), None


def sharded_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy over classes split across ranks (plain cross-entropy on one process)."""
    if not is_distributed():
        return torch.nn.functional.cross_entropy(logits, labels)
    return _ShardedCrossEntropy.apply(logits, labels)
