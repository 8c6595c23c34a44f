"""What one controlled world's trained runs did (issue 36's study, `x2softmax.analysis.mechanism`): per run, the
geometry of its trained head on its own training set and its verification accuracy per pair kind.

- Geometry (`head_probe`): the training images are embedded without flip (the features the head was trained on);
  per class, the angle between its weight and its nearest other class's weight, the margin its features keep
  (`geometry.kept_margins`: the smallest angle, and the 10 % quantile, of its features to the bisecting boundary with
  that class), its training accuracy (share of its images whose nearest class weight, by cosine, is its own), its
  size, and the two-class margin the run's loss realises analytically at that angle (`geometry.realised_margins`;
  NaN for a loss without a fixed target logit).
- Pair kinds (`kind_rows`): the 10-fold protocol's per-pair decisions (the held-out thresholds of the run's
  `verification_scores.npz`) scored per kind, genuine / look-alike / random impostor, the kinds read from the
  synthetic generator's pair plan of the world (`data.synthetic.plan.pair_kinds`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from x2softmax.analysis.geometry import kept_margins, realised_margins
from x2softmax.data.recordio import load_face_arrays
from x2softmax.data.synthetic.plan import pair_kinds, val_pair_plan
from x2softmax.data.synthetic.population import population
from x2softmax.data.synthetic.settings import resolve_config
from x2softmax.evaluate.embed import embed_images
from x2softmax.evaluate.verification import kind_accuracy
from x2softmax.losses import NoFixedTargetError
from x2softmax.models import load_backbone
from x2softmax.torchfile import load_plain

KEPT_QUANTILE = 0.1  # the robust kept margin: the angle to the boundary that 90 % of a class's features keep
GEOMETRY_COLUMNS = ("run", "loss", "seed", "class_id", "count", "nearest_class", "weight_angle_deg",
                    "kept_margin_deg", "kept_margin_q10_deg", "train_accuracy", "analytic_margin_deg")
KIND_COLUMNS = ("run", "loss", "seed", "benchmark", "kind", "pairs", "accuracy")


def head_weight(path: Path) -> np.ndarray:
    """The class-weight matrix of a trained head (`head.pt`), loaded with the checked loader, as float32."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: trained head not found (it should have been produced by the workflow)")
    state = load_plain(path)
    if not isinstance(state, dict) or "weight" not in state:
        raise ValueError(f"{path}: not a trained head (no 'weight' tensor)")
    return state["weight"].float().numpy()


def run_spec_of(run_dir: Path) -> dict[str, Any]:
    """The training spec a run's summary.json records (its loss name and hyperparameters, its seed)."""
    path = Path(run_dir) / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    if not isinstance(summary, dict) or not isinstance(summary.get("spec"), dict):
        raise ValueError(f"{path}: not a training summary with a 'spec' object")
    return summary["spec"]


def class_probe(features: np.ndarray, labels: np.ndarray, weight: np.ndarray, loss: str,
                hparams: Mapping[str, Any]) -> pd.DataFrame:
    """Per class of a trained head: kept margins (smallest and KEPT_QUANTILE), training accuracy, size, and the
    analytic two-class margin of `loss` at its nearest-weight angle (module docstring)."""
    kept = kept_margins(features, labels, weight, 0.0)
    kept["kept_margin_q10_deg"] = kept_margins(features, labels, weight, KEPT_QUANTILE)["kept_margin_deg"].to_numpy()
    unit_w = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    predicted = np.argmax(features @ unit_w.T, axis=1)  # the feature norm does not change the argmax
    labels = np.asarray(labels, dtype=np.int64)
    frame = pd.DataFrame({"class_id": labels, "right": predicted == labels}).groupby("class_id")["right"]
    kept["train_accuracy"] = frame.mean().reindex(kept["class_id"]).to_numpy(float)
    kept["count"] = frame.size().reindex(kept["class_id"]).to_numpy(int)
    try:
        kept["analytic_margin_deg"] = np.rad2deg(realised_margins(np.deg2rad(kept["weight_angle_deg"].to_numpy()),
                                                                  loss, hparams))
    except (NoFixedTargetError, ValueError):
        kept["analytic_margin_deg"] = np.nan
    return kept


def head_probe(train_dir: Path, run_dirs: Mapping[str, Path], batch_size: int = 128) -> pd.DataFrame:
    """GEOMETRY_COLUMNS for every run (name -> its trained run folder) on the training set in `train_dir`."""
    images, labels = load_face_arrays(Path(train_dir))
    frames = []
    for run, run_dir in run_dirs.items():
        spec = run_spec_of(run_dir)
        model, model_spec = load_backbone(Path(run_dir) / "backbone.pt")
        features = embed_images(model, images, batch_size=batch_size, flip=False,
                                input_size=model_spec.get("input_size"))
        frame = class_probe(features, labels, head_weight(Path(run_dir) / "head.pt"), spec["loss"]["name"],
                            spec["loss"].get("hparams", {}))
        frame.insert(0, "run", run)
        frame.insert(1, "loss", spec["loss"]["name"])
        frame.insert(2, "seed", int(spec["train"]["seed"]))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[list(GEOMETRY_COLUMNS)]


def world_pair_kinds(synthetic: Mapping[str, Any], benchmark: str) -> tuple[np.ndarray, np.ndarray]:
    """(issame, kind) of every pair of a synthetic verification set, in the order of its .bin file."""
    cfg = resolve_config(dict(synthetic))
    _, families = population(cfg, "eval")
    plan = val_pair_plan(cfg, benchmark, families)
    return plan.issame, pair_kinds(plan, families)


def kind_rows(scores_path: Path, synthetic: Mapping[str, Any], benchmarks: Sequence[str], run: str, loss: str,
              seed: int) -> list[dict[str, Any]]:
    """KIND_COLUMNS rows of one run: its 10-fold accuracy per pair kind on each benchmark."""
    scores = np.load(scores_path)
    rows = []
    for benchmark in benchmarks:
        issame, kinds = world_pair_kinds(synthetic, benchmark)
        stored = scores[f"{benchmark}/issame"].astype(bool)
        if not np.array_equal(stored, issame):
            raise ValueError(f"{scores_path}: the pairs of {benchmark} are not those of the synthetic settings' pair "
                             "plan (another generator version or seed?)")
        accuracy = kind_accuracy(scores[f"{benchmark}/10fold"], issame, kinds)
        rows += [{"run": run, "loss": loss, "seed": seed, "benchmark": benchmark, "kind": kind,
                  "pairs": int((kinds == kind).sum()), "accuracy": value} for kind, value in accuracy.items()]
    return rows
