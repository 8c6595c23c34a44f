"""The declared report outputs match the notebooks, and notebooks are committed clean and parameterised."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from x2softmax.report.artifacts import (  # noqa: E402
    NOTEBOOKS, caption, check_outputs, figure_paths, save_figure, save_table, table_paths,
)

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def test_every_notebook_file_is_declared_and_vice_versa():
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_notebook_is_clean_and_parameterised(nb):
    book = nbformat.read(NOTEBOOK_DIR / f"{nb}.ipynb", as_version=4)
    nbformat.validate(book)
    assert book.metadata["kernelspec"]["name"] == "python3"
    assert book.metadata["language_info"]["name"] == "python"
    tagged = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    assert tagged[0].source.startswith("parameters = None")  # one dict: the workflow's, declared in NOTEBOOKS
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    code = "\n".join(c.source for c in book.cells if c.cell_type == "code")
    for stem in NOTEBOOKS[nb]["figures"] + NOTEBOOKS[nb]["tables"]:
        assert f'"{stem}"' in code, f"{nb} never saves {stem}"
    assert f'NB = "{nb}"\np = setup(NB, parameters)' in code  # every page starts the same way


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_entries_are_complete(nb):
    entry = NOTEBOOKS[nb]
    assert entry["title"]
    stems = entry["figures"] + entry["tables"]
    assert sorted(entry["captions"]) == sorted(stems)
    assert all(stem.startswith(nb[:3]) for stem in stems)
    assert all(caption(stem) == entry["captions"][stem] for stem in stems)


def test_paths_follow_the_layout(tmp_path):
    figs = figure_paths("02_toy", tmp_path / "figures")
    assert figs == [tmp_path / "figures" / f"02_toy_{d}.{e}" for d in ("2d", "3d") for e in ("png", "pdf")]
    assert table_paths("02_toy", tmp_path) == [tmp_path / "02_toy_compactness.csv", tmp_path / "02_toy_seed_comparison.csv"]
    with pytest.raises(KeyError, match="unknown report notebook"):
        figure_paths("99_nope", tmp_path)


def test_save_and_check_outputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="05_training_curves.png"):
        check_outputs("05_training", tmp_path, tmp_path)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = save_figure(fig, "05_training", "05_training_curves", tmp_path)
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "05_training_curves.pdf").read_bytes()[:4] == b"%PDF"
    save_table(pd.DataFrame({"run": ["a"]}), "05_training", "05_training_cost", tmp_path)
    with pytest.raises(FileNotFoundError, match="05_saturation.png"):
        check_outputs("05_training", tmp_path, tmp_path)
    save_figure(fig, "05_training", "05_saturation", tmp_path)
    save_table(pd.DataFrame({"run": ["a"]}), "05_training", "05_run_health", tmp_path)
    assert len(check_outputs("05_training", tmp_path, tmp_path)) == 6
    with pytest.raises(KeyError, match="not a declared figure"):
        save_figure(plt.figure(), "05_training", "01_target_logits", tmp_path)
    assert not list(tmp_path.glob("*.tmp"))
