"""Evaluate one trained backbone: the .bin verification sets under each protocol and the IJB suites (1:1, 1:N).

Writes into out_dir (docs/architecture.md, results layout): verification.json, verification_scores.npz (per set
and protocol the per-pair score, "{set}/{protocol}", and "{set}/issame"), ijb_{suite}.json,
ijb_{suite}_scores.npz, ijb_{suite}_1N.json (1:N results per gallery and combined, CMC and TPIR-FPIR curve),
ijb_{suite}_1N.npz (per 1:N list "{list}/templates", "/subjects", "/features"; per gallery and probe "/mated",
"/rank", "/positive", "/best_other": enough to re-check the rule) and the tidy metrics.csv (see
x2softmax.evaluate.summary for the metric names).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from x2softmax.data.pair_store import load_pair_store
from x2softmax.data.pairs import load_bin_unique
from x2softmax.evaluate.embed import cached_embeddings, embed_views, resolve_device
from x2softmax.evaluate.ijb import STANDARD_MODE, evaluate_ijb, parse_mode
from x2softmax.evaluate.summary import identification_rows, ijb_rows, verification_rows, write_metrics
from x2softmax.evaluate.verification import indexed_scores, score_metrics
from x2softmax.io import atomic_path, atomic_write_json, file_sha256
from x2softmax.models import load_backbone
from x2softmax.phases import reading
from x2softmax.vocabulary import IDENTIFICATION, IJB_SUITES, PROTOCOLS

PROTOCOL_DESCRIPTIONS = {
    "10fold": "insightface 10-fold: flip-summed embeddings, squared L2, thresholds 0:4:0.01, contiguous folds",
    "oracle": "X2-Softmax authors' oracle threshold: no flip, cosine, best threshold chosen on the whole test set",
    "oracle_flip": "the oracle threshold rule on flip-summed embeddings (as 10fold): separates flip and threshold choice",
}


def backbone_file(model_path: Path) -> Path:
    """The backbone.pt a model path names (the file itself or the run directory holding it)."""
    model_path = Path(model_path)
    path = model_path / "backbone.pt" if model_path.is_dir() else model_path
    if not path.is_file():
        raise FileNotFoundError(f"{path}: backbone file not found")
    return path


def verify_benchmark(model: torch.nn.Module, bin_path: Path, name: str, protocols: Sequence[str], *,
                     input_size: int | None, batch_size: int, device: torch.device, checkpoint_sha256: str,
                     cache_dir: Path | None, store: Path | None = None
                     ) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """evaluate_pairs results of one .bin set per protocol, and the per-pair scores (squared L2 distance for
    10fold, cosine for the oracles) with issame; f(x) and f(flip(x)) are embedded once. `store`: the set's decoded
    pair store (x2softmax.data.pair_store), read instead of decoding the .bin."""
    with reading():
        bin_sha256 = file_sha256(bin_path) if store is not None or cache_dir is not None else None  # read once
        if store is not None and input_size is not None:
            images, index, issame = load_pair_store(store, bin_path, input_size, bin_sha256=bin_sha256)
        else:
            images, index, issame = load_bin_unique(bin_path)  # an image in several pairs is embedded once

    def compute() -> np.ndarray:
        return embed_views(model, images, flip=True, batch_size=batch_size, device=device, input_size=input_size)

    if cache_dir is None:
        views = compute()
    else:
        key = {"checkpoint": checkpoint_sha256, "data": bin_sha256, "views": "x,flip,unique",
               "input_size": input_size}
        views = cached_embeddings(key, cache_dir, compute)
    first, second = index[0::2], index[1::2]  # each pair's two images among the distinct ones
    views64 = views.astype(np.float64)
    summed = views64[0] + views64[1]  # float64 sum, as insightface's float64 embedding buffers
    results, scores = {}, {}
    for protocol in protocols:  # each distinct image normalised once, not once per pair slot
        scores[protocol] = indexed_scores(views64[0] if protocol == "oracle" else summed, first, second, protocol)
        norm = None
        if protocol == "10fold":
            norms = np.linalg.norm(views64, axis=2)[:, index]  # [2, 2P]: every pair slot's views
            norm = float(np.mean(norms.reshape(-1)))
        result = score_metrics(scores[protocol], issame, protocol, embedding_norm=norm)
        result.update(dataset=name, description=PROTOCOL_DESCRIPTIONS[protocol])
        results[protocol] = result
    return results, {"issame": issame, **scores}


def _check_request(data_root: Path, benchmarks: Sequence[str], protocols: Sequence[str], ijb: Sequence[str],
                   aligned_root: Path | None, ijb_mode: str) -> None:
    """Fail before any work on an unknown name or a missing input file."""
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise ValueError(f"unknown verification protocol(s) {unknown}; known: {', '.join(PROTOCOLS)}")
    unknown = [s for s in ijb if s not in IJB_SUITES]
    if unknown:
        raise ValueError(f"unknown IJB suite(s) {unknown}; known: {', '.join(IJB_SUITES)}")
    parse_mode(ijb_mode)
    for name in benchmarks:
        path = Path(data_root) / "val" / f"{name}.bin"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: verification set {name!r} not found")
    if ijb and aligned_root is None:
        raise ValueError(f"IJB suites {list(ijb)} requested without an aligned_root (the aligned image stores)")


def evaluate_model(model_path: Path, out_dir: Path, *, run: str, loss: str, data_root: Path,
                   benchmarks: Sequence[str], protocols: Sequence[str], ijb: Sequence[str],
                   aligned_root: Path | None, ijb_mode: str = STANDARD_MODE, batch_size: int = 256,
                   backbone: str | None = None, cache_dir: Path | None = None, device: str = "auto",
                   pair_stores: Path | None = None) -> Path:
    """Evaluate a backbone on the requested sets and suites; write the results into out_dir; return metrics.csv.
    `pair_stores`: a folder of decoded pair stores ({set}.npz at the model's input size) read instead of the .bin."""
    data_root, out_dir = Path(data_root), Path(out_dir)
    _check_request(data_root, benchmarks, protocols, ijb, aligned_root, ijb_mode)
    path = backbone_file(model_path)
    model, spec = load_backbone(path, name=backbone)
    sha = file_sha256(path)
    checkpoint = sha[:12]
    dev = resolve_device(device)
    input_size = int(spec["input_size"])
    header = {"run": run, "loss": loss, "checkpoint": checkpoint, "checkpoint_sha256": sha, "backbone_file": str(path),
              "model": {k: spec[k] for k in ("backbone", "embedding_size", "input_size") if k in spec},
              "device": str(dev)}
    rows: list[dict[str, Any]] = []

    def add_rows(dataset: str, protocol: str, metrics: list[tuple[str, float, str]]) -> None:
        rows.extend({"run": run, "loss": loss, "dataset": dataset, "protocol": protocol, "metric": metric,
                     "value": float(value), "checkpoint": checkpoint, "note": note} for metric, value, note in metrics)

    sets: dict[str, dict[str, Any]] = {}
    pair_scores: dict[str, np.ndarray] = {}
    for name in benchmarks:
        sets[name], per_pair = verify_benchmark(model, data_root / "val" / f"{name}.bin", name, protocols,
                                      input_size=input_size, batch_size=batch_size, device=dev,
                                      checkpoint_sha256=sha, cache_dir=cache_dir,
                                      store=None if pair_stores is None else Path(pair_stores) / f"{name}.npz")
        pair_scores.update({f"{name}/{key}": value for key, value in per_pair.items()})
        for protocol, result in sets[name].items():
            add_rows(name, protocol, verification_rows(result))
    atomic_write_json(out_dir / "verification.json", {**header, "sets": sets})
    with atomic_path(out_dir / "verification_scores.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **pair_scores)

    for suite in ijb:
        result = evaluate_ijb(model, data_root / suite, suite, Path(aligned_root) / suite, mode=ijb_mode,
                              batch_size=batch_size, device=dev, input_size=input_size, cache_dir=cache_dir,
                              checkpoint_sha256=sha)
        scores, labels = result.pop("scores"), result.pop("labels")
        identified, arrays = result.pop("identification"), result.pop("identification_arrays")
        result["description"] = "IJB 1:1 template verification (insightface eval_ijbc), TAR at the nearest FPR"
        atomic_write_json(out_dir / f"ijb_{suite}.json", {**header, **result})
        with atomic_path(out_dir / f"ijb_{suite}_scores.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, scores=scores.astype(np.float32), labels=labels.astype(np.uint8))
        add_rows(suite, ijb_mode, ijb_rows({float(k): v for k, v in result["tar_at_far"].items()},
                                           result["not_measurable"]))
        identified["description"] = ("IJB 1:N open-set identification (insightface IJB_evals.py -N): rank-k over "
                                     "all probes, TPIR at FPIR averaged over the two galleries")
        atomic_write_json(out_dir / f"ijb_{suite}_1N.json", {**header, "dataset": suite, **identified})
        with atomic_path(out_dir / f"ijb_{suite}_1N.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        add_rows(suite, IDENTIFICATION, identification_rows(identified))

    metrics_path = out_dir / "metrics.csv"
    write_metrics(rows, metrics_path)
    return metrics_path
