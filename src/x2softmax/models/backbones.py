"""The iResNet backbones by registry name: blocks and widths per stage (no torch import: the config schema's enum
of backbone names is read without torch's start-up)."""

from __future__ import annotations

_LARGE_WIDTHS = (64, 128, 256, 512)

# name -> (blocks per stage, widths per stage)
BACKBONES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "r18": ((2, 2, 2, 2), _LARGE_WIDTHS),
    "r34": ((3, 4, 6, 3), _LARGE_WIDTHS),
    "r50": ((3, 4, 14, 3), _LARGE_WIDTHS),
    "r100": ((3, 13, 30, 3), _LARGE_WIDTHS),
    "r200": ((6, 26, 60, 6), _LARGE_WIDTHS),
    "iresnet_small": ((2, 2, 2, 2), (32, 64, 128, 256)),
    "iresnet_tiny": ((1, 1, 1, 1), (16, 32, 64, 128)),
}
