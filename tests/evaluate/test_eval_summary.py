"""The tidy metrics table: writing, reading with checks, concatenation."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from x2softmax.evaluate.summary import COLUMNS, combine_metrics, ijb_rows, metric_at_far, read_metrics, write_metrics


def _rows(run: str) -> list[dict]:
    return [
        {"run": run, "loss": "arcface", "dataset": "lfw", "protocol": "10fold", "metric": "accuracy_pct",
         "value": 99.8333333333333, "checkpoint": "0123456789ab", "note": ""},
        {"run": run, "loss": "arcface", "dataset": "IJBC", "protocol": "N1D1F2",
         "metric": metric_at_far("tar", 1e-4), "value": 96.4612, "checkpoint": "0123456789ab", "note": ""},
        {"run": run, "loss": "arcface", "dataset": "IJBC", "protocol": "N1D1F2",
         "metric": metric_at_far("tar", 1e-6), "value": float("nan"), "checkpoint": "0123456789ab",
         "note": "not measurable: FAR 1e-06 < 1/17879 impostor pairs (5.59e-05)"},
    ]


def test_metric_names():
    assert metric_at_far("tar", 1e-4) == "tar_at_far_1e-04_pct"
    assert metric_at_far("val", 1e-3) == "val_at_far_1e-03_pct"
    assert ijb_rows({1e-6: 0.5, 1e-1: 0.99}) == [("tar_at_far_1e-06_pct", 50.0, ""), ("tar_at_far_1e-01_pct", 99.0, "")]
    rows = ijb_rows({1e-6: None, 1e-1: 0.99}, {"1e-06": "not measurable: FAR 1e-06 < 1/9 impostor pairs"})
    assert rows[0][0] == "tar_at_far_1e-06_pct" and math.isnan(rows[0][1])
    assert rows[0][2] == "not measurable: FAR 1e-06 < 1/9 impostor pairs" and rows[1] == ("tar_at_far_1e-01_pct", 99.0, "")


def test_roundtrip_keeps_full_precision(tmp_path):
    write_metrics(_rows("a"), tmp_path / "m.csv")
    table = read_metrics(tmp_path / "m.csv")
    assert tuple(table.columns) == COLUMNS
    assert table["value"].tolist()[:2] == [99.8333333333333, 96.4612]
    assert math.isnan(table["value"].iloc[2]) and table["note"].iloc[2].startswith("not measurable")
    assert table["checkpoint"].tolist() == ["0123456789ab"] * 3


def test_combine(tmp_path):
    paths = []
    for run in ("arcface", "x2softmax"):
        paths.append(tmp_path / run / "metrics.csv")
        write_metrics(_rows(run), paths[-1])
    combined = combine_metrics(paths, tmp_path / "summary" / "metrics.csv")
    assert len(combined) == 6
    assert pd.read_csv(tmp_path / "summary" / "metrics.csv")["run"].tolist() == ["arcface"] * 3 + ["x2softmax"] * 3
    with pytest.raises(ValueError, match="more than one input file"):
        combine_metrics([paths[0], paths[0]], tmp_path / "dup.csv")


def test_malformed_files_are_named(tmp_path):
    good = tmp_path / "good.csv"
    write_metrics(_rows("a"), good)
    missing_column = tmp_path / "cols.csv"
    missing_column.write_text("run,loss,dataset,metric,value,checkpoint\na,b,lfw,acc,1,x\n")
    with pytest.raises(ValueError, match="cols.csv: columns"):
        combine_metrics([good, missing_column], tmp_path / "out.csv")
    text_value = tmp_path / "value.csv"
    text_value.write_text(",".join(COLUMNS) + "\na,b,lfw,10fold,accuracy_pct,high,x,\n")
    with pytest.raises(ValueError, match="value.csv: non-numeric value"):
        combine_metrics([text_value], tmp_path / "out.csv")
    silent_gap = tmp_path / "gap.csv"
    silent_gap.write_text(",".join(COLUMNS) + "\na,b,lfw,10fold,accuracy_pct,,x,\n")
    with pytest.raises(ValueError, match="gap.csv: .*missing one without a note"):
        combine_metrics([silent_gap], tmp_path / "out.csv")
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        combine_metrics([tmp_path / "nowhere.csv"], tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_metrics_json_nests_every_row() -> None:
    import pandas as pd

    from x2softmax.evaluate.summary import metrics_json

    frame = pd.DataFrame([
        {"run": "a", "loss": "arcface", "dataset": "lfw", "protocol": "10fold", "metric": "accuracy_pct",
         "value": 91.5, "checkpoint": "x"},
        {"run": "a", "loss": "arcface", "dataset": "lfw", "protocol": "oracle", "metric": "accuracy_pct",
         "value": 92.0, "checkpoint": "x"},
        {"run": "a", "loss": "arcface", "dataset": "IJBC", "protocol": "N1D1F2", "metric": "tar_at_far_1e-06_pct",
         "value": float("nan"), "checkpoint": "x", "note": "not measurable: FAR 1e-06 < 1/9 impostor pairs"},
    ])
    assert metrics_json(frame) == {"a": {
        "lfw": {"10fold": {"accuracy_pct": 91.5}, "oracle": {"accuracy_pct": 92.0}},
        "IJBC": {"N1D1F2": {"tar_at_far_1e-06_pct": None,
                            "not_measurable": {"tar_at_far_1e-06_pct": "not measurable: FAR 1e-06 < 1/9 impostor pairs"}}},
    }}
