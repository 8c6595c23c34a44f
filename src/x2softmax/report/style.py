"""The one stylesheet every report page and the index link (`reports/style.css`, offline, no web fonts)."""

from __future__ import annotations

from pathlib import Path

from x2softmax.io import atomic_write_text

STYLESHEET = "style.css"

CSS = """\
/* X2-Softmax replication reports: one shared stylesheet (written by `x2softmax report style`). */
html { -webkit-text-size-adjust: 100%; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1150px;
       padding: 0 16px 2em; color: #222; line-height: 1.5; background: #fff; overflow-wrap: break-word; }
main, footer, nav { max-width: 100%; }
h1 { margin: 0.4em 0 0.3em; font-size: 1.8em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
h3 { margin-top: 1.2em; }
a { color: #1a5fb4; }
code { font-size: 0.9em; background: #f3f3f3; padding: 0 0.2em; border-radius: 3px; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; max-width: 100%; }
nav.pages { font-size: 0.9em; padding: 0.6em 0; border-bottom: 1px solid #ddd; display: flex; gap: 1.2em;
            flex-wrap: wrap; }
.notice { border-left: 6px solid #888; background: #f4f4f4; padding: 0.7em 1em; margin: 1em 0; }
.notice.synthetic { border-color: #c0392b; background: #fdecea; font-size: 1.05em; }
.notice.real { border-color: #27ae60; background: #eafaf1; }
.notice.analysis { border-color: #2c7fb8; background: #eef5fb; }
.notice.digits { border-color: #8e6bbf; background: #f4effa; }
.verdict { border: 2px solid #2c7fb8; background: #f5f9fd; padding: 0.2em 1em 0.6em; margin: 1em 0; }
.verdict h3 { margin-top: 0.5em; }
.preset { color: #555; font-size: 0.9em; margin-top: -0.5em; }
figure.x2-figure, figure.x2-table { margin: 1em 0 1.5em; }
a.anchor-link { visibility: hidden; text-decoration: none; margin-left: 0.2em; }
h1:hover a.anchor-link, h2:hover a.anchor-link, h3:hover a.anchor-link { visibility: visible; }
figure.x2-figure img { max-width: 100%; height: auto; display: block; }
figure figcaption { font-size: 0.92em; color: #333; margin-top: 0.3em; }
figure.x2-table figcaption { margin: 0 0 0.3em; font-weight: 600; }
.formats { font-size: 0.85em; margin: 0.1em 0; font-weight: normal; }
.subtable { font-weight: 600; margin: 0.8em 0 0.2em; }
.table-scroll { overflow-x: auto; max-width: 100%; border: 1px solid #e3e3e3; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0; }
td, th { border: 1px solid #d8d8d8; padding: 3px 8px; text-align: left; vertical-align: top; }
th, td { white-space: nowrap; }
table.claims td { white-space: normal; min-width: 6em; }
td.long { white-space: normal; min-width: 32em; max-width: 48em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f0f0f0; position: sticky; top: 0; }
.table-scroll td:first-child, .table-scroll th:first-child { position: sticky; left: 0; z-index: 1;
       background: #fff; box-shadow: 1px 0 0 #bbb; }
.table-scroll th:first-child { background: #f0f0f0; z-index: 2; }
table.wrap th, table.wrap td { white-space: normal; }
table.wrap td.long { min-width: 10em; }
table.wrap td.long { overflow-wrap: anywhere; }
figure.x2-table details > summary { cursor: pointer; color: #1a5fb4; margin: 0.2em 0; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; }
.figures figure { margin: 0; width: 260px; border: 1px solid #ddd; padding: 6px; background: #fafafa; }
.figures figure img { width: 100%; height: 150px; object-fit: contain; background: white; }
.missing { color: #999; }
footer.provenance { margin-top: 3em; border-top: 1px solid #ccc; padding-top: 0.6em; font-size: 0.85em; color: #444; }
footer.provenance dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.15em 1em; margin: 0.4em 0; }
footer.provenance dt { font-weight: 600; }
footer.provenance dd { margin: 0; min-width: 0; }
"""


def write_stylesheet(out: Path) -> Path:
    """Write the shared stylesheet to `out` (atomically); return the path."""
    atomic_write_text(Path(out), CSS)
    return Path(out)
