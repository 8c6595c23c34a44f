"""Executed notebook → light offline HTML: no input cells, no network references, the shared stylesheet linked, a
provenance footer, and the same bytes for the same outputs whatever the notebook's run noise."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from x2softmax.report.provenance import config_hash
from x2softmax.report.render import footer_html, page_html, remote_references, render_html


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """A tiny notebook with markdown, a plot and a table, executed with the python3 kernel."""
    book = new_notebook(cells=[
        new_markdown_cell("# Tiny report\nSome text with $x^2$ and a relative [link](other.html)."),
        new_code_cell("n = 3", metadata={"tags": ["parameters"]}),
        new_code_cell("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
                      "from IPython.display import Image, display\nfig, ax = plt.subplots()\n"
                      "ax.plot(range(n))\nfig.savefig('plot.png')\ndisplay(Image(filename='plot.png'))"),
        new_code_cell("import pandas as pd\npd.DataFrame({'SECRET_INPUT_MARKER': [n]})"),
    ])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.metadata["language_info"] = {"name": "python"}
    folder = tmp_path_factory.mktemp("render")
    NotebookClient(book, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    path = folder / "tiny.ipynb"
    nbformat.write(book, path)
    return path


@pytest.mark.e2e  # executed: nbclient runs the notebook in a Jupyter kernel (a process)
def test_render_is_offline_and_inline(executed, tmp_path):
    out = render_html(executed, tmp_path / "sub" / "tiny.html")
    page = out.read_text(encoding="utf-8")
    assert remote_references(page) == []
    assert "<script" not in page.lower()
    assert page.count('src="data:image/png;base64,') >= 1
    assert "Tiny report" in page and "SECRET_INPUT_MARKER" in page  # markdown and outputs kept
    assert "ax.plot(range(n))" not in page  # inputs dropped
    assert not list((tmp_path / "sub").glob("*.tmp"))


def test_remote_reference_detection():
    page = ('<script src="https://cdn.example/x.js"></script><link href="//cdn.example/a.css">'
            '<style>@import "http://x/y.css"; div { background: url( https://x/i.png ) }</style>'
            '<img src="data:image/png;base64,AAAA"><a href="figures/a.png">a</a>')
    found = remote_references(page)
    assert len(found) == 4
    assert remote_references('<img src="figures/a.png"><a href="01_margins.html">x</a>') == []


def test_bad_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.ipynb"):
        render_html(tmp_path / "missing.ipynb", tmp_path / "x.html")
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.ipynb: not a readable Jupyter notebook"):
        render_html(broken, tmp_path / "x.html")


@pytest.mark.e2e  # executed: nbclient runs the notebook in a Jupyter kernel (a process)
def test_page_links_the_stylesheet_and_has_navigation_and_footer(executed, tmp_path):
    config = tmp_path / "config.json"
    config.write_text('{"b": 1, "a": [1, 2]}')
    page = render_html(executed, tmp_path / "tiny.html", config).read_text(encoding="utf-8")
    assert '<link rel="stylesheet" href="style.css">' in page and "<style" not in page.split("<body>")[0]
    assert page.count('href="index.html"') == 2  # navigation bar and footer
    assert config_hash(config) in page and "Page rendered at commit" in page
    assert "Numbers produced at commit" in page and "environment.json absent" in page  # not recorded: said so
    (tmp_path / "environment.json").write_text('{"commit": "0123456789ab"}')
    page = render_html(executed, tmp_path / "tiny.html", config).read_text(encoding="utf-8")
    assert "<code>0123456789ab</code> (training and evaluation" in page
    footer = footer_html("04_ijb", "abc123", "f00d")
    assert "notebooks/04_ijb.ipynb" in footer and "notebook_04_ijb" in footer and "x2softmax.report.summaries" in footer


def test_config_hash_ignores_key_order(tmp_path):
    (tmp_path / "a.json").write_text('{"b": 1, "a": {"y": 2, "x": 3}}')
    (tmp_path / "b.json").write_text('{"a": {"x": 3, "y": 2}, "b": 1}')
    assert config_hash(tmp_path / "a.json") == config_hash(tmp_path / "b.json")
    assert config_hash(None).startswith("unknown")


@pytest.mark.e2e  # executed: nbclient runs the notebook in a Jupyter kernel (a process)
def test_run_noise_does_not_reach_the_page(executed):
    book = nbformat.read(executed, as_version=4)
    first = page_html(book, "03_verification", commit="c", config_digest="h")
    for cell in book.cells:  # what papermill changes on every run
        cell["id"] = "changed-id"
        cell.setdefault("metadata", {})["papermill"] = {"start_time": "2099-01-01T00:00:00", "duration": 9.9}
        if cell.cell_type == "code":
            cell["execution_count"] = 99
    book.metadata["papermill"] = {"start_time": "2099-01-01", "end_time": "2099-01-02"}
    assert page_html(book, "03_verification", commit="c", config_digest="h") == first


def test_commit_in_the_footer_ignores_commits_of_the_reports(tmp_path):
    import subprocess

    from x2softmax.report.provenance import git_commit

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("x = 1\n")
    git("add", "-A")
    git("commit", "-qm", "source")
    source = git("rev-parse", "--short=12", "HEAD").strip()
    assert git_commit(tmp_path) == source
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "index.html").write_text("<html></html>")
    git("add", "-A")
    git("commit", "-qm", "reports")
    assert git_commit(tmp_path) == source
    (tmp_path / "src" / "a.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == source + " + local changes"
    assert git_commit(tmp_path / "missing").startswith("unknown")
