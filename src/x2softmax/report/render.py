"""Executed notebook → one light, offline, byte-reproducible HTML page: its Markdown and the HTML blocks its cells
display (figures referenced as files, tables, notices, verdicts), the shared stylesheet linked, a navigation bar
and a provenance footer (notebook, rule, package functions, git commit, config hash, link to the index).

Nothing of the notebook's run-specific noise (cell ids, execution counts, timestamps, kernel metadata) reaches the
page, so the same results give the same bytes.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from x2softmax.io import atomic_write_text
from x2softmax.report.artifacts import NOTEBOOKS, PAGES
from x2softmax.report.provenance import config_hash, git_commit, numbers_commit
from x2softmax.report.style import STYLESHEET

# Anything the browser would fetch or link from the network: src/href/srcset attributes and CSS url()/@import.
_REMOTE = re.compile(
    r"""(?:\b(?:src|href|srcset|data|poster)\s*=\s*["']?\s*|url\(\s*["']?\s*|@import\s+["'])(?:https?:)?//""",
    re.IGNORECASE,
)


def remote_references(html_text: str) -> list[str]:
    """Every network reference (src/href/srcset to http(s) or //, CSS url()/@import) in an HTML page, in context."""
    return [html_text[max(0, m.start() - 20) : m.end() + 60].replace("\n", " ") for m in _REMOTE.finditer(html_text)]


def markdown_html(text: str) -> str:
    """Markdown → HTML (nbconvert's mistune renderer, as Jupyter shows it)."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(text)


def _output_html(output: dict[str, Any], where: str) -> str:
    """One cell output as HTML; errors raise (a failed notebook is never published)."""
    kind = output.get("output_type")
    if kind == "error":
        raise RuntimeError(f"{where}: the notebook raised {output.get('ename')}: {output.get('evalue')}")
    if kind == "stream":
        return f'<pre class="stream">{html.escape("".join(output.get("text", "")))}</pre>'
    data = output.get("data", {})
    if "text/html" in data:
        return "".join(data["text/html"]) if isinstance(data["text/html"], list) else str(data["text/html"])
    if "text/markdown" in data:
        return markdown_html("".join(data["text/markdown"]))
    if "image/png" in data:
        return f'<img src="data:image/png;base64,{"".join(data["image/png"]).strip()}" alt="">'
    if "text/plain" in data:
        return f"<pre>{html.escape(''.join(data['text/plain']))}</pre>"
    return ""


def _study(nb: str) -> str | None:
    """The study a page belongs to (its folder under reports/ and results/), None for the default's pages."""
    return NOTEBOOKS.get(nb, {}).get("study")


def _nav(nb: str) -> str:
    """Links to the index and to the previous and next pages (a study page: to the index only)."""
    if _study(nb):
        return '<nav class="pages"><a href="../index.html">← Index of the reports</a></nav>'
    names = PAGES
    links = ['<a href="index.html">← Index of the reports</a>']
    if nb in names:
        i = names.index(nb)
        if i > 0:
            links.append(f'<a href="{names[i - 1]}.html">‹ {html.escape(names[i - 1])}</a>')
        if i + 1 < len(names):
            links.append(f'<a href="{names[i + 1]}.html">{html.escape(names[i + 1])} ›</a>')
    return '<nav class="pages">' + "".join(links) + "</nav>"


def footer_html(nb: str, commit: str, config_digest: str, numbers_commit: str = "not recorded") -> str:
    """The provenance footer of a page: the commit its numbers were produced at (results/environment.json) and the
    commit it was rendered at."""
    entry = NOTEBOOKS.get(nb, {})
    functions = ", ".join(f"<code>{html.escape(f)}</code>" for f in entry.get("functions", [])) or "—"
    study = _study(nb)
    results = f"results/{study}" if study else "results"
    rules = ((f"<code>{study}_notebook</code> (papermill) → <code>{study}_render</code>") if study else
             f"<code>notebook_{html.escape(nb)}</code> (papermill) → <code>render_notebook</code>")
    rows = [
        ("Notebook", f"<code>notebooks/{html.escape(nb)}.ipynb</code> (executed copy: "
                     f"<code>{results}/notebooks/{html.escape(nb)}.ipynb</code>)"),
        ("Snakemake rules", f"{rules} (<code>x2softmax report render</code>)"),
        ("Numbers computed by", functions),
        ("Numbers produced at commit", f"<code>{html.escape(numbers_commit)}</code> (training and evaluation; "
                                       "<code>results/environment.json</code>, machine and libraries on the index)"),
        ("Page rendered at commit", f"<code>{html.escape(commit)}</code>"),
        ("Config hash", f"<code>{html.escape(config_digest)}</code> (sha256 of <code>{results}/config.json</code>)"),
    ]
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return (f'<footer class="provenance"><dl>{items}</dl>'
            f'<p><a href="{"../" if study else ""}index.html">← Back to the index of the reports</a></p></footer>')


def page_html(notebook: dict[str, Any], nb: str, *, commit: str, config_digest: str, where: str = "",
              numbers_commit: str = "not recorded") -> str:
    """The full HTML page of an executed notebook (node or plain dict)."""
    title = NOTEBOOKS.get(nb, {}).get("title", nb)
    body = []
    for index, cell in enumerate(notebook["cells"]):
        source = "".join(cell.get("source", ""))
        if cell["cell_type"] == "markdown":
            body.append(markdown_html(source))
        elif cell["cell_type"] == "code":
            body.extend(_output_html(out, f"{where} cell {index}") for out in cell.get("outputs", []))
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(nb)} · {html.escape(title)}</title>",
        f'<link rel="stylesheet" href="{"../" if _study(nb) else ""}{STYLESHEET}"></head>',
        "<body>",
        _nav(nb),
        "<main>",
        *[b for b in body if b],
        "</main>",
        footer_html(nb, commit, config_digest, numbers_commit),
        "</body></html>",
        "",
    ])


def render_html(ipynb: Path, html_path: Path, config_json: Path | None = None) -> Path:
    """Render an executed notebook to an offline HTML page; fail if any network reference remains."""
    import nbformat

    ipynb, html_path = Path(ipynb), Path(html_path)
    if not ipynb.is_file():
        raise FileNotFoundError(f"{ipynb}: executed notebook not found")
    try:
        notebook = nbformat.read(ipynb, as_version=4)
    except Exception as err:  # nbformat raises several unrelated types for unreadable files
        raise ValueError(f"{ipynb}: not a readable Jupyter notebook ({err})") from err

    results = Path(config_json).parent if config_json is not None else Path("results")
    body = page_html(notebook, ipynb.stem, commit=git_commit(), config_digest=config_hash(config_json),
                     where=str(ipynb), numbers_commit=numbers_commit(results))
    remote = remote_references(body)
    if remote:
        raise RuntimeError(f"{ipynb}: rendered HTML still references the network: {remote[:5]}")
    atomic_write_text(html_path, body)
    return html_path
