"""The tables pages 02, 04 and 07 compute from several result files: the toy's compactness per loss and dimension
and X2 against each other loss over the toy seeds, the overlap of the IJB genuine and impostor similarities, and
the geometry of each run's trained class centres; and the one reader of the evaluation's per-run IJB files
(`read_ijb_files`: scores here, 1:N results for report.identification)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from x2softmax.analysis.geometry import class_geometry, compactness_table, overlap_coefficient
from x2softmax.analysis.probe import head_weight
from x2softmax.analysis.toy import compactness_comparisons
from x2softmax.losses import SUBJECT
from x2softmax.report.summaries import read_table

OVERLAP_COLUMNS = ["suite", "run", "genuine_pairs", "impostor_pairs", "genuine_mean", "impostor_mean",
                   "overlap_coefficient"]
OVERLAP_BINS = np.linspace(-1, 1, 201)  # 200 bins over the cosine range
T = TypeVar("T")


def toy_runs(toy_dir: Path, losses: Sequence[str], dims: Sequence[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """The toy result of every loss and dimension (`{toy_dir}/{loss}_{dim}d.npz`), as {dim: {loss: arrays}}."""
    return {dim: {loss: dict(np.load(Path(toy_dir) / f"{loss}_{dim}d.npz")) for loss in losses} for dim in dims}


def toy_compactness(toys: Mapping[int, Mapping[str, Mapping[str, Any]]]) -> pd.DataFrame:
    """One row per dimension and loss: compactness and separation of its held-out features (`compactness_table`)."""
    return pd.DataFrame([
        {"loss": loss, "dim": dim, **compactness_table(toy["features"], toy["labels"], toy["centres"])}
        for dim, per_loss in toys.items() for loss, toy in per_loss.items()
    ])


def toy_comparisons(toys: Mapping[int, Mapping[str, Mapping[str, Any]]], losses: Sequence[str],
                    loss: str = SUBJECT) -> pd.DataFrame:
    """`loss` against every other loss of `losses`, per dimension (`compactness_comparisons`, column `dim` added)."""
    return pd.concat([
        compactness_comparisons(per_loss, loss, [rival for rival in losses if rival != loss]).assign(dim=dim)
        for dim, per_loss in toys.items()
    ], ignore_index=True)


def produced(path: Path, what: str) -> Path:
    """`path`, or FileNotFoundError naming it and `what` it holds when an upstream job did not write it."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: {what} not found (it should have been produced by the workflow)")
    return Path(path)


def read_ijb_files(eval_dir: Path, runs: Sequence[str], suites: Sequence[str], name: str, what: str,
                   read: Callable[[Path], T]) -> dict[str, dict[str, T]]:
    """{suite: {run: read(path)}} of the evaluation files `{eval_dir}/{run}/ijb_{suite}_{name}` (`what` they hold
    names a missing one)."""
    return {suite: {run: read(produced(Path(eval_dir) / run / f"ijb_{suite}_{name}", what)) for run in runs}
            for suite in suites}


def _scores(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(template-pair scores, labels) of one `ijb_{suite}_scores.npz`."""
    with np.load(path) as npz:
        return npz["scores"].astype(np.float64), npz["labels"].astype(np.int64)


def ijb_scores(eval_dir: Path, runs: Sequence[str],
               suites: Sequence[str]) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """{suite: {run: (template-pair scores, labels)}} from `{eval_dir}/{run}/ijb_{suite}_scores.npz`."""
    return read_ijb_files(eval_dir, runs, suites, "scores.npz", "IJB scores", _scores)


def similarity_overlap(scores: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]]) -> pd.DataFrame:
    """Per suite and run: genuine and impostor pair counts and means, and the overlap coefficient of their
    histograms on OVERLAP_BINS."""
    rows = [
        {"suite": suite, "run": run, "genuine_pairs": int((lab == 1).sum()), "impostor_pairs": int((lab == 0).sum()),
         "genuine_mean": val[lab == 1].mean(), "impostor_mean": val[lab == 0].mean(),
         "overlap_coefficient": overlap_coefficient(val[lab == 1], val[lab == 0], OVERLAP_BINS)}
        for suite, per_run in scores.items() for run, (val, lab) in per_run.items()
    ]
    return pd.DataFrame(rows, columns=OVERLAP_COLUMNS)


def head_geometry(train_dir: Path, runs: Sequence[str], class_counts_csv: Path,
                  loss_specs: Mapping[str, Mapping[str, Any]]) -> dict[str, pd.DataFrame]:
    """Per run: `class_geometry` of its trained head (`{train_dir}/{run}/head.pt`) with the class sizes."""
    counts_table = read_table(Path(class_counts_csv), ["class_id", "count"])
    frames = {}
    for run in runs:
        weight = head_weight(Path(train_dir) / run / "head.pt")
        counts = counts_table.set_index("class_id")["count"].reindex(range(weight.shape[0])).to_numpy()
        spec = loss_specs[run]
        frames[run] = class_geometry(weight, counts, spec["name"], spec.get("hparams", {}))
    return frames
