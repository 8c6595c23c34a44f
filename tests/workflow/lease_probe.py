"""A job's GPU lease decision with a fake CUDA device count (run by test_slurm.py through sbatch).

torch is told the node has 2 CUDA devices, so lease_gpus reaches its decision as on a GPU node; the job then writes
what it saw (JSON at argv[2]): the devices it took, the lock files in the lock folder argv[1], the decision line and
the lease variables of its environment.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

torch.cuda.device_count = lambda: 2  # the fake CUDA device count the decision runs with

from x2softmax.train.devices import LEASE_ENV, LEASE_JOB_ENV, lease_decision, lease_gpus  # noqa: E402

lock_dir = Path(sys.argv[1])
with lease_gpus(1, lock_dir=lock_dir, timeout_s=5, poll_s=0.5) as devices:
    locks = sorted(p.name for p in lock_dir.glob("*.lock")) if lock_dir.exists() else []
result = {"devices": devices, "locks": locks, "owner": lease_decision()[0], "decision": lease_decision()[1],
          "environ": {k: os.environ.get(k) for k in (LEASE_ENV, LEASE_JOB_ENV, "SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES")}}
Path(sys.argv[2]).write_text(json.dumps(result))
