"""Warnings to the user: one line on stderr each, with counts (resized images, skipped folders, sampled checks)."""

from __future__ import annotations

import sys


def warn(message: str) -> None:
    """Print `x2softmax: warning: MESSAGE` on stderr."""
    print(f"x2softmax: warning: {message}", file=sys.stderr, flush=True)
