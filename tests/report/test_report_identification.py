"""Page 04's 1:N section: the table's cells ("value [interval]", "—" where not measurable) and its two figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from x2softmax.evaluate.identification import identification
from x2softmax.report import identification as ident


def _intervals() -> pd.DataFrame:
    rows = []
    for run, shift in (("x2softmax", 1.0), ("arcface", 0.0)):
        for metric, value in (("rank_1_pct", 80.0), ("rank_5_pct", 95.0), ("rank_10_pct", 97.0),
                              ("tpir_at_fpir_1e-02_pct", math.nan), ("tpir_at_fpir_1e-01_pct", 50.0)):
            rows.append({"run": run, "seed": 2048, "dataset": "IJBC", "protocol": "1N", "metric": metric,
                         "value": value + shift, "ci_low": value - 2, "ci_high": value + 3,
                         "note": "not measurable: FPIR 1e-02 < 1/40 non-mated probes (2.50e-02)"
                         if math.isnan(value) else ""})
    return pd.DataFrame(rows)


def test_table_shows_the_page_metrics_with_intervals_and_dashes() -> None:
    table = ident.identification_table(_intervals(), ["arcface", "x2softmax"], ["IJBC"])
    assert table["run"].tolist() == ["arcface", "x2softmax"] and set(table["suite"]) == {"IJB-C"}
    assert list(table.columns) == ["suite", "run", "seed", "rank-1", "rank-5", "TPIR@FPIR=1e-02", "TPIR@FPIR=1e-01"]
    row = table.set_index("run").loc["x2softmax"]
    assert row["rank-1"] == "81.00 [78.00, 83.00]" and row["TPIR@FPIR=1e-02"] == "—"


def test_figures_from_results(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    results = {}
    for suite in ("IJBB", "IJBC"):
        results[suite] = {}
        for run in ("x2softmax", "arcface"):
            centres = rng.normal(size=(20, 8))
            subjects = np.repeat(np.arange(20), 3)
            result = identification(centres[subjects] + rng.normal(size=(60, 8)), subjects,
                                    [(centres[:10], np.arange(10)), (centres[10:], np.arange(10, 20))])
            del result["searches"]
            (tmp_path / run).mkdir(exist_ok=True)
            (tmp_path / run / f"ijb_{suite}_1N.json").write_text(json.dumps(result))
            results[suite][run] = result
    assert ident.read_identification(tmp_path, ["x2softmax", "arcface"], ["IJBB", "IJBC"]) == results
    with pytest.raises(FileNotFoundError, match="ijb_IJBC_1N.json: 1:N results not found"):
        ident.read_identification(tmp_path, ["softmax"], ["IJBC"])
    curves = ident.tpir_fpir_figure(results)
    assert curves.axes[0].get_xscale() == "log" and len(curves.axes[0].lines) == 2
    cmc = ident.cmc_figure(results)
    assert cmc.axes[1].lines[0].get_xdata().tolist() == list(range(1, 11))
    assert ident.cmc_figure({}).axes[0].texts[0].get_text() == "No IJB suite in this configuration."
