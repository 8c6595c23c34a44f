"""Validation during training: pair verification of the backbone on the run spec's `train.val` sets."""

from __future__ import annotations

from pathlib import Path
import numpy as np
import torch
from torch import nn

from x2softmax.runspec import ValSettings


class Validation:
    """Pair verification on the val sets of a run spec's `train.val` block, every `every` steps and at the end."""

    def __init__(self, val: ValSettings, input_size: int, device: torch.device) -> None:
        self.every = val.every
        self.sets = list(val.sets) if self.every > 0 else []
        self.data_dir = Path(val.data_dir)
        self.input_size, self.device = input_size, device
        self.pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in self.sets:
            if not (self.data_dir / f"{name}.bin").is_file():
                raise FileNotFoundError(f"{self.data_dir / f'{name}.bin'}: validation set not found")

    def due(self, step: int, last: bool) -> bool:
        """Whether validation runs after this step."""
        return bool(self.sets) and (last or step % self.every == 0)

    def run(self, model: nn.Module) -> dict[str, float]:
        """Verification accuracy (10-fold) of each val set."""
        from x2softmax.data.pairs import load_bin_images
        from x2softmax.evaluate.embed import embed_images
        from x2softmax.evaluate.verification import evaluate_pairs

        was_training = model.training
        model.eval()
        scores = {}
        for name in self.sets:
            if name not in self.pairs:
                self.pairs[name] = load_bin_images(self.data_dir / f"{name}.bin", self.input_size)
            images, issame = self.pairs[name]
            emb = embed_images(model, images, batch_size=256, flip=True, device=str(self.device))
            scores[name] = float(evaluate_pairs(emb[0::2], emb[1::2], issame, protocol="10fold")["accuracy"])
        model.train(was_training)
        return scores
