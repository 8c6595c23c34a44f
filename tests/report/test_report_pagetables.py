"""The tables pages 02, 04 and 07 compute: toy compactness and comparisons, IJB similarity overlap, trained-head
geometry (read with the checked loader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from x2softmax.analysis.geometry import compactness_table, overlap_coefficient
from x2softmax.report import pagetables


def _toy(rng: np.random.Generator, dim: int) -> dict[str, np.ndarray]:
    """A toy result: 8 centres, 12 noisy held-out samples each, three seeds of angles."""
    centres = rng.normal(size=(8, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(8), 12)
    feats = centres[labels] + 0.1 * rng.normal(size=(len(labels), dim))
    angles = rng.uniform(5, 20, size=(3, len(labels)))
    return {"features": feats, "labels": labels, "centres": centres, "seeds": np.array([1, 2, 3]),
            "seed_test_index": np.stack([np.arange(len(labels))] * 3), "seed_angles": angles}


def test_toy_tables_have_a_row_per_loss_and_dimension(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for loss in ("arcface", "x2softmax"):
        for dim in (2, 3):
            np.savez(tmp_path / f"{loss}_{dim}d.npz", **_toy(rng, dim))
    toys = pagetables.toy_runs(tmp_path, ["arcface", "x2softmax"], [2, 3])
    table = pagetables.toy_compactness(toys)
    assert list(zip(table["loss"], table["dim"])) == [("arcface", 2), ("x2softmax", 2), ("arcface", 3),
                                                      ("x2softmax", 3)]
    toy = toys[3]["x2softmax"]
    expected = compactness_table(toy["features"], toy["labels"], toy["centres"])
    assert table.iloc[3]["mean_angle_to_centre_deg"] == expected["mean_angle_to_centre_deg"]
    comparisons = pagetables.toy_comparisons(toys, ["arcface", "x2softmax"])
    assert list(comparisons["dim"]) == [2, 3] and set(comparisons["rival"]) == {"arcface"}


def test_similarity_overlap_per_suite_and_run(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for run in ("arcface", "x2softmax"):
        (tmp_path / run).mkdir()
        labels = (rng.random(500) < 0.2).astype(np.uint8)
        np.savez(tmp_path / run / "ijb_IJBC_scores.npz", scores=rng.normal(0.5 * labels, 0.2).astype(np.float32),
                 labels=labels)
    scores = pagetables.ijb_scores(tmp_path, ["arcface", "x2softmax"], ["IJBC"])
    table = pagetables.similarity_overlap(scores)
    assert list(table.columns) == pagetables.OVERLAP_COLUMNS and list(table["run"]) == ["arcface", "x2softmax"]
    values, labels = scores["IJBC"]["x2softmax"]
    assert table.iloc[1]["genuine_pairs"] + table.iloc[1]["impostor_pairs"] == 500
    assert table.iloc[1]["overlap_coefficient"] == overlap_coefficient(values[labels == 1], values[labels == 0],
                                                                       np.linspace(-1, 1, 201))
    assert pagetables.similarity_overlap({}).columns.tolist() == pagetables.OVERLAP_COLUMNS  # no suite: no rows
    with pytest.raises(FileNotFoundError, match="ijb_IJBB_scores.npz: IJB scores not found"):
        pagetables.ijb_scores(tmp_path, ["arcface"], ["IJBB"])


def test_head_geometry_reads_heads_with_the_checked_loader(tmp_path: Path) -> None:
    (tmp_path / "arcface").mkdir()
    torch.save({"weight": torch.randn(6, 4)}, tmp_path / "arcface" / "head.pt")
    pd.DataFrame({"class_id": range(6), "count": [3, 4, 5, 6, 7, 8]}).to_csv(tmp_path / "counts.csv", index=False)
    frames = pagetables.head_geometry(tmp_path, ["arcface"], tmp_path / "counts.csv",
                                      {"arcface": {"name": "arcface", "hparams": {"s": 64.0, "m": 0.5}}})
    assert len(frames["arcface"]) == 6
    (tmp_path / "bad").mkdir()
    torch.save({"bias": torch.zeros(3)}, tmp_path / "bad" / "head.pt")
    with pytest.raises(ValueError, match="head.pt: not a trained head"):
        pagetables.head_weight(tmp_path / "bad" / "head.pt")
    (tmp_path / "bad" / "head.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="head.pt: refused to load"):  # the checked loader, not torch.load
        pagetables.head_weight(tmp_path / "bad" / "head.pt")
    with pytest.raises(FileNotFoundError, match="trained head not found"):
        pagetables.head_geometry(tmp_path, ["missing"], tmp_path / "counts.csv", {})
