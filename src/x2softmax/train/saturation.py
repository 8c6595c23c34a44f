"""The saturation diagnostic: the softmax probability of the true class under a loss's final (scaled, margined) logits.

A margin loss whose target probability underflows (s = 64 on a few hundred classes) trains with a gradient that no
longer depends on its margin parameters; these statistics say whether a run ever left that regime.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.distributed as dist

from x2softmax.train import distributed as D

LOW_PROB = 1e-6  # a sample "under the floor" has a target probability below this
SATURATED_LOSS = 10.0  # nats: a run whose final logged loss is at least this is saturated
SATURATED_SHARE = 0.05  # a run with at least this share of samples under LOW_PROB at the end is saturated
MEDIAN_KEY, BELOW_KEY = "target_prob_median", "target_prob_below_1e-6"


@torch.no_grad()
def target_log_probs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log p_y in float64 for every row of the (global) batch, from logits [B, C_local] sharded over ranks.

    `labels` are local class ids or -1 where the target lives on another rank (as the sharded cross-entropy takes
    them). Computed in log space, so a probability of e^-200 is kept where float32's softmax would give 0.
    """
    logits = logits.detach().double()
    max_logit = logits.max(dim=1, keepdim=True).values
    if D.is_distributed():
        dist.all_reduce(max_logit, dist.ReduceOp.MAX)
    sum_exp = (logits - max_logit).exp().sum(dim=1, keepdim=True)
    here = (labels >= 0).unsqueeze(1)  # gather then mask: boolean indexing would wait for the device
    picked = logits.gather(1, labels.long().clamp(min=0).unsqueeze(1))
    target = torch.where(here, picked, torch.zeros_like(picked))
    if D.is_distributed():
        dist.all_reduce(sum_exp, dist.ReduceOp.SUM)
        dist.all_reduce(target, dist.ReduceOp.SUM)
    return (target - max_logit - sum_exp.log()).squeeze(1)


def saturation_stats(log_probs: torch.Tensor | np.ndarray) -> dict[str, float]:
    """Median target probability and the share of samples with a target probability below LOW_PROB."""
    values = np.asarray(log_probs.cpu() if isinstance(log_probs, torch.Tensor) else log_probs, dtype=np.float64)
    if values.size == 0:
        raise ValueError("saturation statistics need at least one sample")
    return {
        MEDIAN_KEY: float(np.exp(np.median(values))),
        BELOW_KEY: float(np.mean(values < math.log(LOW_PROB))),
    }


def is_saturated(final_loss: float, below: float) -> bool:
    """Whether a run ends saturated: final loss >= SATURATED_LOSS nats or >= SATURATED_SHARE of samples under LOW_PROB."""
    return not (final_loss < SATURATED_LOSS and below < SATURATED_SHARE)
