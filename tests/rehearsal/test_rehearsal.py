"""The paper-shape rehearsal: its scale arithmetic against hand-computed values, and its reduced form end to end."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from x2softmax import config as xcfg
from x2softmax.cli import main
from x2softmax.data.registry import load_registry
from x2softmax.rehearsal import scale_checks
from x2softmax.rehearsal.run import format_rehearsal, write_training_set


def _values(rows):
    return {row["check"]: row for row in rows}


def test_scale_checks_match_hand_computed_paper_sizes():
    rows = _values(scale_checks(xcfg.load_config("paper"), load_registry(), ranks=8))
    assert rows["largest class id"]["value"] == 93430
    assert rows["largest record key (images + classes + 1)"]["value"] == 5179510 + 93431 + 1
    assert rows["IJB-C pairs"]["value"] == 15658489
    assert rows["IJB-C embedding elements (flip views)"]["value"] == 2 * 469375 * 512
    assert rows["head logits elements (one process)"]["value"] == 128 * 93431
    assert rows["head weight memory (full FC)"]["value"] == pytest.approx(93431 * 512 * 4 / 2**20)
    assert rows["partial FC 0.1: sampled classes"]["value"] == 9343
    assert rows["8 ranks: classes on rank 0"]["value"] == 11679  # 93431 = 8 * 11678 + 7
    assert rows["8 ranks: per-rank logits elements"]["value"] == 8 * 128 * 11679
    assert rows["8 ranks: embedding all-gather per step"]["value"] == pytest.approx(8 * 128 * 512 * 4 / 2**20)
    assert all(row["ok"] for row in rows.values())


def test_scale_checks_flag_what_overflows():
    registry = load_registry()
    registry["ms1mv3"] = {**registry["ms1mv3"], "expect": {**registry["ms1mv3"]["expect"], "num_classes": 2**24 + 2}}
    rows = _values(scale_checks(xcfg.load_config("paper"), registry))
    assert not rows["largest class id"]["ok"]
    assert not rows["largest record key (images + classes + 1)"]["ok"]


def test_training_set_declares_every_class_and_uses_the_last_id(tmp_path):
    from x2softmax.data.recordio import FaceRecordIO

    faces = FaceRecordIO(write_training_set(tmp_path / "train", 93431, 6, 112))
    labels = sorted(faces.labels.tolist())
    assert faces.num_classes == 93431 and len(faces) == 6
    assert labels[0] == 0 and labels[-1] == 93430


@pytest.mark.e2e
def test_reduced_rehearsal_runs_every_step_kind(tmp_path, capsys):
    out = tmp_path / "rehearsal"
    main(["rehearse", "--reduced", "--out", str(out), "--threads", "1"])
    printed = capsys.readouterr().out
    assert "rehearsal passed" in printed
    result = json.loads((out / "rehearsal.json").read_text())
    assert result["ok"] and all(result["checks"].values())
    assert {"bit-exact resume", "grad-scaler state in the checkpoint", "evaluation covers every set",
            "scale checks"} <= set(result["checks"])
    table = pd.read_csv(out / "rehearsal.tsv", sep="\t")
    kinds = set(table["kind"])
    assert {"train[x2softmax] partial_fc=0.1", "checkpoint load", "checkpoint save",
            "train[x2softmax] amp=fp16 resumed", "evaluate (.bin sets + IJB)"} <= kinds
    trained = table[table["kind"] == "train[x2softmax] partial_fc=0.1"].iloc[0]
    assert trained["head_classes"] == 93431 and trained["peak_rss_mb"] > 0 and trained["s_per_image"] > 0
    assert table.loc[table["kind"] == "checkpoint load", "checkpoint_mb"].iloc[0] >= round(93431 * 512 * 4 / 2**20, 1)
    assert format_rehearsal(result).splitlines()[-1] == "rehearsal passed"
