"""What a report notebook shows, as HTML blocks the page renderer keeps verbatim: numbered figures with a caption
under them and the caption as alt text, numbered tables that scroll inside their own container, the page's data
notice and computed verdicts. Figures are saved as files and referenced once (never embedded as base64).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from x2softmax.report.artifacts import NOTEBOOKS, SYNTHETIC_NOTICE, caption, save_figure, save_table
from x2softmax.report.render import markdown_html
from x2softmax.report.tables import table_html

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

DATA_KINDS = ("analysis", "digits", "synthetic", "real")


def figure_number(nb: str, stem: str) -> str:
    """'page.k' of a declared figure (e.g. '1.3': page 01, third figure)."""
    return f"{int(nb[:2])}.{NOTEBOOKS[nb]['figures'].index(stem) + 1}"


def table_number(nb: str, stem: str) -> str:
    """'page.k' of a declared table."""
    return f"{int(nb[:2])}.{NOTEBOOKS[nb]['tables'].index(stem) + 1}"


def figure_block(nb: str, stem: str, figures_dir: Path, width: int | None = None) -> str:
    """HTML of a saved figure: the PNG referenced relative to the pages (the parent of figures_dir), its number and
    caption under it, the same text as alt text, and a link to the PDF."""
    label = f"Figure {figure_number(nb, stem)}. {caption(stem)}"
    folder = Path(figures_dir).name
    size = f' width="{width}"' if width else ""
    return (
        f'<figure class="x2-figure" id="{stem}"><a href="{folder}/{stem}.png">'
        f'<img src="{folder}/{stem}.png" alt="{html.escape(label)}"{size}></a>'
        f"<figcaption>{html.escape(label)}</figcaption>"
        f'<p class="formats"><a href="{folder}/{stem}.pdf">PDF</a> · <a href="{folder}/{stem}.png">PNG</a></p>'
        "</figure>"
    )


def split_frame(frame: pd.DataFrame, split_by: str | Sequence[str] | None) -> list[tuple[str, pd.DataFrame]]:
    """Sub-tables of a wide frame: by the values of column `split_by`, or by column groups (every column whose name
    has a token of the sequence as a word, with the columns that have none repeated in each, in the frame's column
    order; "lfw" does not take "calfw"; rows empty in a group are left out of it); [] when nothing splits."""
    if split_by is None:
        return []
    if isinstance(split_by, str):
        if split_by not in frame.columns or frame[split_by].nunique() < 2:
            return []
        return [(str(key), part.drop(columns=[split_by])) for key, part in frame.groupby(split_by, sort=False)]
    tokens = [t for t in dict.fromkeys(split_by) if any(t in str(c).split() for c in frame.columns)]
    if len(tokens) < 2:
        return []
    shared = {c for c in frame.columns if not any(t in str(c).split() for t in split_by)}
    parts = []
    for t in tokens:
        own = [c for c in frame.columns if t in str(c).split()]
        rows = frame[own].notna().any(axis=1)  # a row with nothing in this group (a published row of the other
        parts.append((t, frame.loc[rows, [c for c in frame.columns if c in shared or c in own]]))  # suite) is left out
    return parts


def table_block(nb: str, stem: str, frame: pd.DataFrame, decimals: Mapping[str, int] | None = None,
                split_by: str | Sequence[str] | None = None, tables_dir: Path | None = None, *,
                collapsed: bool = False, wrap: bool = False) -> str:
    """HTML of a table: number and caption above, formatted cells, a scrolling container; optionally split into
    sub-tables (see `split_frame`, e.g. one per IJB suite), and a link to the CSV. `collapsed`: behind a disclosure
    whose summary is the caption, the row count and the CSV link (full row-per-cell tables); `wrap`: cell text wraps
    so the table fits the page."""
    label = f"Table {table_number(nb, stem)}. {caption(stem)}"
    parts = [f'<p class="subtable">{html.escape(key)}</p>' + table_html(part, decimals)
             for key, part in split_frame(frame, split_by)]
    if not parts:
        parts = [table_html(frame, decimals)]
    if wrap:
        parts = [part.replace("<table>", '<table class="wrap">') for part in parts]
    csv = f' <a class="formats" href="{Path(tables_dir).name}/{stem}.csv">CSV</a>' if tables_dir is not None else ""
    body = "".join(parts)
    if collapsed:
        body = f"<details><summary>Every row ({len(frame)}): open the table</summary>{body}</details>"
    return f'<figure class="x2-table" id="{stem}"><figcaption>{html.escape(label)}{csv}</figcaption>{body}</figure>'



def _display_html(block: str) -> None:
    """Display an HTML block in the running notebook (the only kind of output the report pages show)."""
    from IPython.display import HTML, display

    display(HTML(block))


def show_figure(fig: Figure, nb: str, stem: str, figures_dir: Path) -> None:
    """Save a declared figure (PNG and PDF) and show it as a numbered, captioned figure."""
    save_figure(fig, nb, stem, Path(figures_dir))
    _display_html(figure_block(nb, stem, figures_dir))


def show_table(frame: pd.DataFrame, nb: str, stem: str, tables_dir: Path, *,
               decimals: Mapping[str, int] | None = None, split_by: str | Sequence[str] | None = None,
               shown: pd.DataFrame | None = None, collapsed: bool = False, wrap: bool = False) -> None:
    """Save a declared table as CSV (full precision) and show it (or `shown`, a reader's layout of the same
    numbers) formatted, numbered and captioned (`collapsed`, `wrap`: see `table_block`)."""
    save_table(frame, nb, stem, Path(tables_dir))
    _display_html(table_block(nb, stem, frame if shown is None else shown, decimals, split_by, tables_dir,
                              collapsed=collapsed, wrap=wrap))


def notice_html(kind: str, datasets: Sequence[tuple[str, str]] = ()) -> str:
    """The page's data notice: 'analysis' (no data), 'digits' (scikit-learn digits), 'synthetic' or 'real'
    (with the data sets named and their hashes as (name, sha256) pairs)."""
    if kind == "analysis":
        body = ("<strong>Analysis only.</strong> Everything on this page is computed from the loss definitions; no "
                "data set and no trained network is involved.")
        css = "analysis"
    elif kind == "digits":
        body = ("<strong>Real handwritten digits.</strong> The toy networks are trained on scikit-learn's 8×8 digits "
                "(a small real data set shipped with scikit-learn), not on faces.")
        css = "digits"
    elif kind == "synthetic":
        body = f"<strong>⚠ Synthetic data.</strong> {html.escape(SYNTHETIC_NOTICE)}"
        css = "synthetic"
    elif kind == "real":
        named = ", ".join(
            f"{html.escape(name)} (<code>{html.escape(sha[:16])}</code>)" if sha else html.escape(name)
            for name, sha in datasets
        )
        body = "<strong>Real data.</strong> The numbers come from " + (named or "the configured data sets") + "."
        css = "real"
    else:
        raise ValueError(f"unknown data kind {kind!r}; expected one of {DATA_KINDS}")
    return f'<div class="notice {css}">{body}</div>'


def show_notice(kind: str, preset: str | None = None, datasets: Sequence[tuple[str, str]] = ()) -> None:
    """Show the page's data notice and the preset it ran under."""
    tail = f'<p class="preset">Preset: <code>{html.escape(str(preset))}</code></p>' if preset else ""
    _display_html(notice_html(kind, datasets) + tail)


def verdict_html(markdown_text: str, title: str = "Verdict") -> str:
    """A verdict paragraph (Markdown computed by the package) as a highlighted HTML block."""
    return f'<section class="verdict"><h3>{html.escape(title)}</h3>{markdown_html(markdown_text)}</section>'


def show_verdict(markdown_text: str, title: str = "Verdict") -> None:
    """Show a computed verdict."""
    _display_html(verdict_html(markdown_text, title))


def show_text(markdown_text: str) -> None:
    """Show a computed sentence or list (Markdown) as HTML."""
    _display_html(f'<div class="computed">{markdown_html(markdown_text)}</div>')


def data_kind(nb: str, synthetic: bool, toy_data: str = "digits") -> str:
    """What a page's data are: 'analysis' (page 01), the toy's data (page 02), else 'synthetic' or 'real'."""
    source = NOTEBOOKS[nb].get("data", "results")
    if source == "analysis":
        return "analysis"
    if source == "toy" and toy_data == "digits":
        return "digits"
    return "synthetic" if synthetic else "real"


def dataset_digests(root: Path, names: Sequence[str]) -> list[tuple[str, str]]:
    """(name, sha256 of its recorded file hashes `{root}/{name}.sha256.json`, '' when not recorded) per data set."""
    from x2softmax.io import file_sha256

    return [(name, file_sha256(Path(root) / f"{name}.sha256.json") if (Path(root) / f"{name}.sha256.json").is_file()
             else "") for name in names]
