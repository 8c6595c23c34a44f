"""Table cells as a reader sees them: no NaN, no '-0.00', no scientific notation, no pandas index."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from x2softmax.report.tables import format_number, formatted, table_html


def test_cells_are_plain_numbers():
    assert format_number(-1.91e-14) == "0.00"
    assert format_number(-0.004) == "0.00"
    assert format_number(float("nan")) == "—" and format_number(None) == "—"
    assert format_number(1234567.891, 1) == "1234567.9"
    assert format_number(-2.5) == "−2.50"
    assert format_number(np.int64(7)) == "7" and format_number(True) == "yes"


def test_decimals_per_column_and_no_index():
    frame = pd.DataFrame({"run": ["a", "b"], "wall_time_s": [1.234, np.nan], "acc": [0.98765, 1e-9]},
                         index=[10, 11])
    text = formatted(frame, {"_s": 1, "acc": 3})
    assert list(text["wall_time_s"]) == ["1.2", "—"] and list(text["acc"]) == ["0.988", "0.000"]
    page = table_html(frame, {"_s": 1})
    assert page.startswith('<div class="table-scroll">') and ">10<" not in page
    assert not re.search(r"\de[-+]\d", page)
    assert "NaN" not in page and "nan" not in page


def test_a_table_split_per_suite_keeps_its_column_order():
    from x2softmax.report.page import split_frame

    frame = pd.DataFrame({"method": ["a"], "TAR 1e-3 IJBB": [1.0], "TAR 1e-3 IJBC": [2.0], "source": ["x"]})
    parts = dict(split_frame(frame, ["IJBB", "IJBC"]))
    assert list(parts) == ["IJBB", "IJBC"]
    assert list(parts["IJBB"].columns) == ["method", "TAR 1e-3 IJBB", "source"]  # numbers before the provenance
    assert list(parts["IJBC"].columns) == ["method", "TAR 1e-3 IJBC", "source"]
    assert split_frame(frame, ["IJBB"]) == [] and split_frame(frame, None) == []
    published = pd.DataFrame({"method": ["x2", "ArcFace"], "TAR 1e-3 IJBB": [50.0, None],
                              "TAR 1e-3 IJBC": [51.0, 96.0], "source": ["this run", "a README"]})
    parts = dict(split_frame(published, ["IJBB", "IJBC"]))  # a row with no IJB-B number is not in the IJB-B table
    assert list(parts["IJBB"]["method"]) == ["x2"] and list(parts["IJBC"]["method"]) == ["x2", "ArcFace"]


def test_a_wide_benchmark_table_splits_into_narrow_sub_tables_that_keep_the_run():
    """Tables 3.1 and 6.1 split per benchmark: every sub-table starts with the run (and its identifying columns) and
    holds only its own benchmark's columns; "lfw" does not take "calfw" or "cplfw"."""
    from x2softmax.report.page import split_frame, table_block

    benchmarks = ["lfw", "cfp_fp", "agedb_30", "calfw", "cplfw"]
    columns = {f"{b} {kind}": [90.0] for b in benchmarks for kind in ("10fold", "10fold std", "oracle")}
    deltas = {f"Δ {b} {p}": [0.5] for b in benchmarks for p in ("10fold", "oracle")}
    frame = pd.DataFrame({"run": ["x2_a-0.5"], "loss": ["x2softmax"], "overrides": ["a=-0.5"], **columns, **deltas})
    parts = dict(split_frame(frame, benchmarks))
    assert list(parts) == benchmarks
    for name, part in parts.items():
        assert list(part.columns[:3]) == ["run", "loss", "overrides"]
        assert len(part.columns) == 3 + 3 + 2 and all(name in c.split() for c in part.columns[3:])
    block = table_block("06_ablations", "06_ablations", frame, split_by=benchmarks)
    assert block.count('<div class="table-scroll">') == len(benchmarks)
    assert max(len(re.findall("<th>", chunk)) for chunk in block.split('<p class="subtable">')) <= 8


def test_a_collapsed_table_keeps_its_caption_and_csv_outside_the_disclosure():
    from x2softmax.report.page import table_block

    frame = pd.DataFrame({"run": ["a", "b"], "lfw 10fold": ["90.00 [89.00, 91.00]", "80.00 [79.00, 81.00]"]})
    block = table_block("03_verification", "03_accuracy_intervals", frame, tables_dir=Path("tables"),
                        collapsed=True, wrap=True)
    caption, body = block.split("</figcaption>")
    assert "Table 3.3." in caption and 'href="tables/03_accuracy_intervals.csv"' in caption
    assert body.startswith("<details><summary>Every row (2): open the table</summary>")
    assert '<table class="wrap">' in body and "<details>" not in table_block("03_verification", "03_power", frame)
