"""One style per run or loss in every comparison figure: colours far apart in CIELAB for up to 23 series (any
two differ by more than MIN_DELTA_E), a line style and marker as second cues, and X2-Softmax emphasised (black,
thicker, drawn on top) wherever it is compared."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.colors import to_rgb

from x2softmax.losses import SUBJECT, display_names

X2_COLOUR = "#000000"
# 22 colours chosen greedily for the largest smallest CIELAB distance (to each other and to X2's black) from Kelly's
# colours of maximum contrast and the tab10/Dark2/Set1/tab20/Paired palettes, lightness L* <= 82 (visible on white).
COLOURS = ("#F3C300", "#e7298a", "#A1CAF1", "#2ca02c", "#a65628", "#6a3d9a", "#e41a1c", "#C2B280", "#E68FAC",
           "#666666", "#0067A5", "#ff7f00", "#1b9e77", "#8DB600", "#17becf", "#F99379", "#654522", "#fdbf6f",
           "#B3446C", "#2B3D26", "#BE0032", "#e377c2")
MIN_DELTA_E = 20.0  # CIE76 distance below which two line colours are hard to tell apart in a legend
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
X2_NAMES = (SUBJECT, display_names()[SUBJECT], "X2")
LINE_WIDTH, X2_LINE_WIDTH = 1.5, 2.8
MERGED = " ≈ "  # series drawn as one line because they agree within a tolerance, not exactly


def merged_label(members: Sequence[str]) -> str:
    """The legend label of series drawn as one line ("ArcFace ≈ ElasticFace-Arc+")."""
    return MERGED.join(members)


def is_x2(label: str) -> bool:
    """Whether a series is the X2-Softmax run (or loss) itself, a seed of it, or a merged label containing it; its
    ablation variants (x2_a-0.5, ...) are series of their own."""
    return any(part.strip().split(".seed")[0] in X2_NAMES for part in str(label).split(MERGED))


def series_styles(labels: Sequence[str]) -> dict[str, dict]:
    """A fixed style per label, in order (color, ls, marker, lw, ms, zorder): X2 black and thick on top, the others
    the palette's colours in turn with cycling line styles; the same labels give the same styles in every figure."""
    styles: dict[str, dict] = {}
    counts = {"x2": 0, "other": 0}
    for label in dict.fromkeys(labels):
        kind = "x2" if is_x2(label) else "other"
        i = counts[kind]
        counts[kind] += 1
        if kind == "x2":  # X2's own seeds stay black and thick, told apart by line style and marker
            styles[label] = {"color": X2_COLOUR, "ls": LINESTYLES[i % len(LINESTYLES)],
                             "marker": MARKERS[i % len(MARKERS)], "lw": X2_LINE_WIDTH, "ms": 6.0, "zorder": 5}
        else:
            styles[label] = {"color": COLOURS[i % len(COLOURS)],
                             "ls": LINESTYLES[(i + i // len(COLOURS)) % len(LINESTYLES)],
                             "marker": MARKERS[i % len(MARKERS)], "lw": LINE_WIDTH, "ms": 4.0, "zorder": 2}
    return styles


def cielab(colour: object) -> np.ndarray:
    """CIE L*a*b* (D65) of a matplotlib colour."""
    rgb = np.asarray(to_rgb(colour), dtype=np.float64)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ linear / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])
