"""Whole run specs for planted training summaries: the smoke preset's spec of one run with the loss, its
hyperparameters and the seed a test plants (summary.json["spec"] is read back as a RunSpec)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from x2softmax import config as xcfg


@functools.cache
def _smoke_spec() -> str:
    """The smoke preset's spec of its arcface run, as JSON."""
    return xcfg.run_spec(xcfg.load_config("smoke"), "arcface").to_json()


def planted_spec(run: str, loss: str, hparams: Mapping[str, Any], seed: int = 2048) -> dict[str, Any]:
    """A complete run spec (plain data) of `run` training `loss` with `hparams` from `seed`."""
    spec = json.loads(_smoke_spec())
    spec["train"]["seed"] = seed
    return {**spec, "run": run, "loss": {"name": loss, "hparams": dict(hparams)}}
