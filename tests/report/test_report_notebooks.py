"""All seven report notebooks run under papermill on a fake results tree and write every declared output."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from x2softmax.report.artifacts import NOTEBOOKS, check_outputs, table_paths
from x2softmax.report.render import remote_references, render_html

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.e2e
@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_notebook_runs_and_writes_its_outputs(fake_tree, nb):
    papermill = pytest.importorskip("papermill")
    root, params = fake_tree
    executed = root / "results" / "notebooks" / f"{nb}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(NOTEBOOK_DIR / f"{nb}.ipynb"), str(executed), parameters=params[nb],
                               kernel_name="python3", progress_bar=False)
    figures, tables = Path(params[nb]["figures_dir"]), Path(params[nb]["tables_dir"])
    check_outputs(nb, figures, tables)
    for table in table_paths(nb, tables):
        assert len(pd.read_csv(table)) > 0, f"{table} is empty"
    page = render_html(executed, root / "reports" / f"{nb}.html").read_text(encoding="utf-8")
    assert remote_references(page) == [] and "Synthetic data" in page
    assert page.count("data:image/png;base64,") >= len(NOTEBOOKS[nb]["figures"])
