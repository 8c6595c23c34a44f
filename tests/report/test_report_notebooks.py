"""All seven report notebooks run under papermill on a fake results tree, write every declared output, show nothing
but what they mean to show, and render to light pages (numbered, captioned figures; notice; verdict; footer)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from notebook_outputs import stray_outputs  # tests/support

from x2softmax.report.artifacts import NOTEBOOKS, check_outputs, figure_paths, table_paths
from x2softmax.report.page import data_kind
from x2softmax.report.render import remote_references, render_html

NOTICE = {"analysis": "Analysis only", "digits": "Real handwritten digits", "synthetic": "Synthetic data",
          "real": "Real data"}


@pytest.mark.e2e
@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_notebook_runs_and_writes_its_outputs(fake_tree, executed_notebook, nb):
    root, params = fake_tree
    executed = executed_notebook(nb)
    figures, tables = Path(params[nb]["figures_dir"]), Path(params[nb]["tables_dir"])
    check_outputs(nb, figures, tables)
    for table in table_paths(nb, tables):
        assert len(pd.read_csv(table)) > 0, f"{table} is empty"
    assert stray_outputs(nbformat.read(executed, as_version=4)) == []
    page = render_html(executed, root / "reports" / f"{nb}.html").read_text(encoding="utf-8")
    assert remote_references(page) == [] and "base64" not in page and "<style" not in page
    assert NOTICE[data_kind(nb, True)] in page
    for number, stem in enumerate(NOTEBOOKS[nb]["figures"], start=1):
        label = f"Figure {int(nb[:2])}.{number}. {NOTEBOOKS[nb]['captions'][stem]}".replace("'", "&#x27;")
        assert f'<img src="figures/{stem}.png" alt="{label}">' in page and f"<figcaption>{label}</figcaption>" in page
    for number, stem in enumerate(NOTEBOOKS[nb]["tables"], start=1):
        assert f"Table {int(nb[:2])}.{number}. " in page and f'href="tables/{stem}.csv"' in page
    assert '<section class="verdict">' in page  # every page leads with what a reviewer decides from
    # pages comparing losses name the deviations from the paper's hyperparameters (the fake runs use s = 8) and the
    # byte-identical networks planted in the fake tree (x2_a-0.5 = x2softmax); page 05 says which runs end saturated
    if nb in ("03_verification", "04_ijb", "06_ablations"):
        assert "Deviation from the paper" in page and "s = 8 (paper: 64)" in page
    if nb in ("05_training", "06_ablations"):
        assert "Identical networks: x2softmax and x2_a-0.5" in page
    if nb == "05_training":
        assert "1 of 5 runs end saturated" in page and "x2_exact_grad</strong>: final loss 2" in page
    footer = page.split('<footer class="provenance">')[1]
    study = NOTEBOOKS[nb].get("study")  # a study page: its own rules, the index one folder up
    rules = (f"{study}_notebook", f"{study}_render") if study else (f"notebook_{nb}", "render_notebook")
    home = 'href="../index.html"' if study else 'href="index.html"'
    for needed in (f"notebooks/{nb}.ipynb", *rules, "Numbers produced at commit",
                   "Page rendered at commit", "Config hash", home, *NOTEBOOKS[nb]["functions"]):
        assert needed in footer
    assert all(path.is_file() for path in figure_paths(nb, figures))


def test_stray_output_check_catches_planted_outputs():
    book = new_notebook(cells=[
        new_code_cell("save_table(...)", outputs=[new_output("execute_result", data={
            "text/plain": "PosixPath('reports/tables/04_similarity_overlap.csv')"}, execution_count=1)]),
        new_code_cell("print()", outputs=[new_output("stream", name="stdout", text="hello\n")]),
        new_code_cell("display(df)", outputs=[new_output("display_data", data={
            "text/html": "<div><style scoped>...</style><table class='dataframe'></table></div>",
            "text/plain": "df"})]),
        new_code_cell("ok()", outputs=[new_output("display_data", data={
            "text/html": '<figure class="x2-figure" id="a"></figure>', "text/plain": "<HTML>"})]),
    ])
    found = stray_outputs(book)
    assert len(found) == 3 and "PosixPath" in found[0] and "hello" in found[1]


@pytest.mark.e2e
def test_a_page_regenerated_twice_is_byte_identical(fake_tree, executed_notebook, run_notebook, tmp_path):
    """The shared execution of the page and one anew, on the same tree (figures and tables are written atomically,
    so a worker reading them meanwhile sees one whole version)."""
    root, params = fake_tree
    nb = "07_geometry"
    pages, figures = [], []
    for attempt in (1, 2):
        executed = (executed_notebook(nb) if attempt == 1
                    else run_notebook(nb, params[nb], tmp_path / f"run{attempt}" / f"{nb}.ipynb"))
        pages.append(render_html(executed, tmp_path / f"run{attempt}" / f"{nb}.html").read_bytes())
        figures.append({p.name: p.read_bytes() for p in figure_paths(nb, Path(params[nb]["figures_dir"]))}
                       | {p.name: p.read_bytes() for p in table_paths(nb, Path(params[nb]["tables_dir"]))})
    assert pages[0] == pages[1]
    assert figures[0] == figures[1]


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_tables_and_figures_appear_in_numbered_order(nb):
    """A page shows its tables (and its figures) in the order they are numbered (the declared order): Table 4.3
    never comes after Table 4.4."""
    import re

    book = nbformat.read(Path(__file__).resolve().parents[2] / "notebooks" / f"{nb}.ipynb", as_version=4)
    code = "\n".join(cell.source for cell in book.cells if cell.cell_type == "code")
    for kind in ("figure", "table"):
        shown = re.findall(rf'show_{kind}\(.*?\bNB, "([^"]+)"', code, flags=re.S)
        assert shown == NOTEBOOKS[nb][f"{kind}s"], f"{nb}: {kind}s shown as {shown}"
