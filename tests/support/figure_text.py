"""How tall a figure's text is on the page: the readability checks of tests/report (docs/architecture.md, "Readable
figures"), once the saved PNG is fitted to the page's content width."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.text import Text

from x2softmax.report.artifacts import FIGURE_DPI

MIN_LEGEND_TEXT_PX = 9.0  # a legend's text height on screen once the figure is scaled to the page's content width
CONTENT_WIDTH_PX = 1150 - 2 * 16  # style.CSS's body max-width minus its side padding: the widest a figure is shown


def screen_scale(fig: Figure, content_width_px: float) -> float:
    """How much the saved PNG (tight box, FIGURE_DPI) shrinks to fit `content_width_px` (1 when it fits)."""
    fig.canvas.draw()
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    return min(1.0, content_width_px / ((box.width + 0.2) * FIGURE_DPI))  # savefig's pad_inches 0.1 each side


def legend_text_px(fig: Figure, content_width_px: float) -> float:
    """Smallest legend text height (px) on screen once the figure is fitted to the page; inf without a legend."""
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    sizes = [text.get_fontsize() for legend in legends for text in legend.get_texts()]
    return min(sizes) * FIGURE_DPI / 72 * screen_scale(fig, content_width_px) if sizes else float("inf")


def smallest_text_px(fig: Figure, content_width_px: float) -> float:
    """Smallest height (px) on screen of any visible text of the figure (titles, labels, ticks, legends)."""
    scale = screen_scale(fig, content_width_px)
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()
             and (t.axes is None or t.axes.get_visible())]
    return min(sizes) * FIGURE_DPI / 72 * scale if sizes else float("inf")
