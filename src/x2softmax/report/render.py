"""Executed notebook → one HTML page that is readable offline (no input cells, no CDN scripts, images inline)."""

from __future__ import annotations

import re
from pathlib import Path

from x2softmax.io import atomic_write_text

# nbconvert's lab template with every block that links a CDN emptied: require.js, MathJax, mermaid, widgets.
_OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
_TEMPLATE_NAME = "x2softmax_offline.html.j2"

# Anything the browser would fetch or link from the network: src/href/srcset attributes and CSS url()/@import.
_REMOTE = re.compile(
    r"""(?:\b(?:src|href|srcset|data|poster)\s*=\s*["']?\s*|url\(\s*["']?\s*|@import\s+["'])(?:https?:)?//""",
    re.IGNORECASE,
)


def remote_references(html: str) -> list[str]:
    """Every network reference (src/href/srcset to http(s) or //, CSS url()/@import) in an HTML page, in context."""
    return [html[max(0, m.start() - 20) : m.end() + 60].replace("\n", " ") for m in _REMOTE.finditer(html)]


def render_html(ipynb: Path, html: Path) -> Path:
    """Render an executed notebook to offline HTML without input cells; fail if any network reference remains."""
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    ipynb, html = Path(ipynb), Path(html)
    if not ipynb.is_file():
        raise FileNotFoundError(f"{ipynb}: executed notebook not found")
    try:
        notebook = nbformat.read(ipynb, as_version=4)
    except Exception as err:  # nbformat raises several unrelated types for unreadable files
        raise ValueError(f"{ipynb}: not a readable Jupyter notebook ({err})") from err
    exporter = HTMLExporter(
        template_name="lab",
        template_file=_TEMPLATE_NAME,
        extra_loaders=[DictLoader({_TEMPLATE_NAME: _OFFLINE_TEMPLATE})],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": ipynb.stem}})
    remote = remote_references(body)
    if remote:
        raise RuntimeError(f"{ipynb}: rendered HTML still references the network: {remote[:5]}")
    atomic_write_text(html, body)
    return html
