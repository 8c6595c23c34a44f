"""The index page links every report, figure and table and states provenance, protocols and versions."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from x2softmax.report.artifacts import NOTEBOOKS, PAGES, figure_paths, table_paths
from x2softmax.report.index import PROTOCOL_DESCRIPTIONS
from x2softmax.report.index import build_index, is_synthetic
from x2softmax.report.render import remote_references

def _links(page: str) -> set[str]:
    return set(re.findall(r'(?:href|src)="([^"]+)"', page))


def test_index_links_everything(fake_tree, populate_reports, tmp_path):
    root, _ = fake_tree
    reports = tmp_path / "reports"
    populate_reports(reports, skip="04_ijb")
    (reports / "report.html").write_text("<html></html>")
    config = {"preset": "fake-preset", "synthetic": True, "data": {"root": str(root / "results" / "data")}}
    page = build_index(reports, reports / "index.html", config=config, results_dir=root / "results").read_text()
    links = _links(page)
    assert "mechanism/08_mechanism.html" in links and "make replicate PRESET=mechanism" in page  # the study's page
    for nb in PAGES:
        if nb == "04_ijb":
            assert "04_ijb.html" not in links and "04_ijb_roc.png" not in page.replace("not produced", "")
            continue
        assert f"{nb}.html" in links
        for path in figure_paths(nb, reports / "figures"):
            assert f"figures/{path.name}" in links
        for path in table_paths(nb, reports / "tables"):
            assert f"tables/{path.name}" in links
        for text in NOTEBOOKS[nb]["captions"].values():
            assert text.replace("'", "&#x27;") in page
    assert "not produced in this run" in page
    assert "report.html" not in links  # Snakemake's report is not in the repository: named, never linked
    assert "style.css" in links and "<style" not in page
    assert "Synthetic data" in page and "fake-preset" in page
    assert "Numbers produced at commit" in page and "with config hash <code>" in page
    assert all(name in page for name in PROTOCOL_DESCRIPTIONS)
    assert "x2softmax.data.synthetic 1" in page and "cdcdcdcd" not in page  # manifest scalars on the page,
    assert "data_manifest.json" in links and "cdcdcdcd" in (reports / "data_manifest.json").read_text()  # lists linked
    assert "abababab" in page  # a run's training-data hash
    for name in ("python", "torch", "numpy", "pandas", "snakemake", "dvc", "papermill"):
        assert f"<td>{name}</td>" in page
    assert "<script" not in page and remote_references(page) == []


def test_real_data_has_no_synthetic_notice(populate_reports, tmp_path):
    reports = tmp_path / "reports"
    populate_reports(reports)
    page = build_index(reports, reports / "index.html", config={"synthetic": False}, results_dir=tmp_path).read_text()
    assert "Synthetic data" not in page and "Real data" in page


@pytest.mark.parametrize(("config", "manifest", "expected"), [
    ({"synthetic": False}, {"seed": 1}, False), ({}, {"seed": 1}, True), ({}, None, False)])
def test_is_synthetic(config, manifest, expected):
    assert is_synthetic(config, manifest) is expected


def test_the_index_opens_with_the_claims_scoreboard(populate_reports, tmp_path):
    reports = tmp_path / "reports"
    populate_reports(reports)
    page = build_index(reports, reports / "index.html", config={"synthetic": False}, results_dir=tmp_path).read_text()
    assert page.index("<h2>Claims scoreboard</h2>") < page.index("<h2>Reports</h2>")
    claims = pd.read_csv(reports / "tables" / "claims.csv")
    assert len(claims) and (claims["verdict"] == "not testable here").all()  # placeholder tables: nothing to test
    assert 'href="tables/claims.csv"' in page and "not testable here" in page
