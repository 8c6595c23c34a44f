"""Compatibility paths for every torch the project admits (2.11 to 2.13): one function per API that changed.

The only API the code uses that torch 2.11 lacks is DistributedDataParallel's `forward_sync_buffers` argument (new
in 2.13, where `broadcast_buffers` is deprecated). Everything else the package calls exists unchanged in 2.11.
"""

from __future__ import annotations

import inspect

import torch
import torch.distributed as dist
from torch import nn


def ddp_has_forward_sync_buffers(ddp_class: type = nn.parallel.DistributedDataParallel) -> bool:
    """Whether this torch's DistributedDataParallel takes `forward_sync_buffers` (torch >= 2.13)."""
    return "forward_sync_buffers" in inspect.signature(ddp_class.__init__).parameters


def no_forward_buffer_sync_ddp(module: nn.Module, device_ids: list[int] | None) -> nn.Module:
    """DistributedDataParallel that syncs buffers once at construction and never at forward, on any admitted torch.

    torch >= 2.13: `forward_sync_buffers=False`. Older torch: `broadcast_buffers=False`, which skips the
    construction-time sync as well, so rank 0's buffers are broadcast here to give the same starting state.
    """
    ddp_class = nn.parallel.DistributedDataParallel
    if ddp_has_forward_sync_buffers(ddp_class):
        return ddp_class(module, device_ids=device_ids, forward_sync_buffers=False)
    model = ddp_class(module, device_ids=device_ids, broadcast_buffers=False)
    with torch.no_grad():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)
    return model
