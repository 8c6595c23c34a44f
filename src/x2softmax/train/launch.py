"""Launch a training run on its GPUs (x2softmax.train.devices): in-process for <= 1 GPU, torchrun workers for more."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from x2softmax.io import atomic_write_json
from x2softmax.runspec import RunSpec
from x2softmax.train.devices import gpu_environment
from x2softmax.train.trainer import train


def torchrun_command(gpus: int, spec_file: Path, out_dir: Path, ckpt_dir: Path) -> list[str]:
    """The torchrun command line that runs `gpus` workers of x2softmax.train.worker on this machine."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
        "-m", "x2softmax.train.worker",
        "--spec-file", str(spec_file), "--out", str(out_dir), "--ckpt", str(ckpt_dir),
    ]


def launch(spec: RunSpec, out_dir: Path, ckpt_dir: Path, gpus: int) -> None:
    """Take `gpus` GPUs (gpu_environment: leased, or as a scheduler gave them) and train (CPU when none exists)."""
    with gpu_environment(gpus) as devices:
        if len(devices) <= 1:
            train(spec, Path(out_dir), Path(ckpt_dir))
            return
        spec_file = Path(ckpt_dir) / "spec.json"
        atomic_write_json(spec_file, spec.to_dict())
        result = subprocess.run(torchrun_command(len(devices), spec_file, Path(out_dir), Path(ckpt_dir)))
        if result.returncode != 0:
            raise SystemExit(result.returncode)
