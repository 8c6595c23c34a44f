"""Bounds on what a reader trusts in a file, each set by an environment variable (docs/limits.md).

The defaults admit the real datasets (MS1MV3: 5.2 M images of 112 px, 93,431 classes; IJB-C: 15.7 M pairs) and
refuse what only a crafted or broken file declares.
"""

from __future__ import annotations

import os

DEFAULTS = {
    "X2S_MAX_IMAGE_PIXELS": 1 << 26,  # one image's width x height (8192 x 8192); raw IJB frames are < 20 M pixels
    "X2S_MAX_DECODED_BYTES": 32 << 30,  # one array of decoded images (LFW at 112 px: 0.45 GB)
    "X2S_MAX_CLASSES": 10_000_000,  # classes a training set's `property` declares (MS1MV3: 93,431; a head of that
    # size is allocated from it; a set may declare classes it has no image of, as the rehearsal's does)
    "X2S_MAX_IMAGE_REFERENCES": 1000,  # pair slots of a .bin set holding one image (the synthetic sets: ~10)
    "X2S_MAX_EXTRACT_BYTES": 512 << 30,  # an archive's members in all (MS1MV3's archive: ~40 GB)
    "X2S_MAX_EXTRACT_RATIO": 50,  # expanded size / archive size (JPEG archives: ~1, text meta files: < 10)
    "X2S_EXTRACT_RATIO_FLOOR": 256 << 20,  # bytes any archive may expand to whatever its ratio
}


def limit(name: str) -> int:
    """The bound `name`: its environment variable (a positive integer) or its default."""
    text = os.environ.get(name)
    if text is None:
        return DEFAULTS[name]
    if not text.strip().isdigit() or int(text) <= 0:
        raise ValueError(f"environment variable {name}={text!r} must be a positive integer")
    return int(text)
