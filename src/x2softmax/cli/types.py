"""Value types of the `x2softmax` command's arguments: JSON, comma-separated lists, bounded numbers."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from typing import Any


def json_arg(text: str) -> Any:
    """An argparse type: a JSON value."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {text[:80]}") from None


def bounded(kind: type, low: float, high: float) -> Callable[[str], Any]:
    """An argparse type: a finite `kind` (int or float) in [low, high]."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{text} is outside [{low:g}, {high:g}]")
        return value
    return parse


def csv_arg(text: str) -> list[str]:
    """An argparse type: a comma-separated list (empty items dropped)."""
    return [item for item in text.split(",") if item]
