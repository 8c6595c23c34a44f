"""IJB-B / IJB-C 1:1 template verification, as insightface ``recognition/arcface_torch/eval_ijbc.py`` does it.

Image features are formed from f(x) and f(flip(x)) by the N/D/F mode (protocols.md): F2 sum, F1 concatenation,
F0 f(x) only; then N0 L2-normalises each image feature (N1 keeps the norm as a quality weight); then D1 multiplies
by the faceness score. Template feature: mean of the image features sharing a media id, summed over the template's
media, L2-normalised. Pair score: cosine (dot of the normalised template features). TAR@FAR: ROC over all pairs
(``sklearn.metrics.roc_curve`` with its defaults), reversed (``np.flipud``) as the reference does, then the TAR of the
first point whose FPR is nearest each target: among ROC points sharing that FPR, the highest TPR (the top of the
step). A FAR below 1 / (number of impostor pairs) cannot be measured: it is NaN here, missing with a reason in
the tables.

Pair scoring streams the 15.6 M IJB-C pairs: template ids map to feature rows once (a lookup table, or
``np.searchsorted`` when the ids are sparse). Dense pair sets (the IJB suites: every template in about a thousand
pairs) use the "blocked" method: each pair is ordered (lower row first: the cosine is symmetric); for each block of
lower rows, one float32 matmul against the templates from that block on (the upper triangle), from which the
block's pairs are gathered; the block partition depends only on the number of templates, so scores
never depend on ``batch_size``. Sparse sets use the "gather" method: gather both rows and take the row-wise dot,
``batch_size`` pairs at a time. Both agree with a float32 gather-and-dot to about 1e-7.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from x2softmax.data.align import load_aligned_store
from x2softmax.data.ijb import load_ijb_suite, template_rows
from x2softmax.evaluate.curves import (l2_normalize, lowest_measurable_far, not_measurable_reason, roc, subsample_roc,
                                       tar_on_roc)
from x2softmax.evaluate.embed import cached_embeddings, embed_views, resolve_device, store_fingerprint
from x2softmax.evaluate.identification import evaluate_identification
from x2softmax.phases import reading
from x2softmax.vocabulary import IJB_SUITES, far_key

STANDARD_MODE = "N1D1F2"
_MODE_PATTERN = re.compile(r"^N([01])D([01])F([012])$")
_GRAM_BLOCK_ELEMENTS = 1 << 26  # rows x templates of one float32 similarity block (256 MiB)
_DENSE_PAIRS_PER_CELL = 1 / 256  # pairs / templates^2 above which the matmuls beat gathering (CPU break-even ~1/200)


def parse_mode(mode: str) -> tuple[bool, bool, int]:
    """(normalise images: N0, multiply by faceness: D1, flip: 0/1/2) of a mode name like "N1D1F2"."""
    match = _MODE_PATTERN.match(mode)
    if match is None:
        raise ValueError(f"unknown IJB feature mode {mode!r}: expected N[01]D[01]F[012], e.g. {STANDARD_MODE}")
    return match.group(1) == "0", match.group(2) == "1", int(match.group(3))


def image_features(emb: np.ndarray, emb_flip: np.ndarray, faceness: np.ndarray,
                   mode: str = STANDARD_MODE) -> np.ndarray:
    """Per-image features (float32) from f(x), f(flip(x)) and faceness under an N/D/F mode."""
    normalise_images, use_faceness, flip = parse_mode(mode)
    emb = np.asarray(emb, dtype=np.float32)
    emb_flip = np.asarray(emb_flip, dtype=np.float32)
    faceness = np.asarray(faceness, dtype=np.float32)
    if emb.ndim != 2 or emb.shape != emb_flip.shape or faceness.shape != (len(emb),):
        raise ValueError(
            f"image features need f(x) and f(flip(x)) of one shape [N, D] and faceness [N]; got {emb.shape}, "
            f"{emb_flip.shape}, {faceness.shape}"
        )
    if flip == 2:
        feats = emb + emb_flip
    elif flip == 1:
        feats = np.concatenate([emb, emb_flip], axis=1)
    else:
        feats = emb.copy()
    if normalise_images:
        feats /= np.sqrt(np.sum(feats**2, axis=-1, keepdims=True))
    if use_faceness:
        feats *= faceness[:, None]
    return feats


def template_features(features: np.ndarray, template_ids: np.ndarray, media_ids: np.ndarray,
                      chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique template ids, [T, D] float32 L2-normalised template features): media means summed."""
    features = np.asarray(features)
    template_ids = np.asarray(template_ids)
    media_ids = np.asarray(media_ids)
    if features.ndim != 2 or template_ids.shape != (len(features),) or media_ids.shape != (len(features),):
        raise ValueError(
            f"template pooling needs features [N, D] with template and media ids [N]; got {features.shape}, "
            f"{template_ids.shape}, {media_ids.shape}"
        )
    templates, template_row = np.unique(template_ids, return_inverse=True)
    _, media_rank = np.unique(media_ids, return_inverse=True)
    group_key = template_row.astype(np.int64) * (int(media_rank.max(initial=0)) + 1) + media_rank
    _, group, group_size = np.unique(group_key, return_inverse=True, return_counts=True)
    weight = 1.0 / group_size[group]  # mean within a media, then a plain sum over the template's media
    sums = torch.zeros((len(templates), features.shape[1]), dtype=torch.float64)
    for start in range(0, len(features), chunk):
        stop = start + chunk
        block = np.asarray(features[start:stop], dtype=np.float64) * weight[start:stop, None]
        sums.index_add_(0, torch.from_numpy(template_row[start:stop].astype(np.int64)), torch.from_numpy(block))
    return templates, l2_normalize(sums.numpy()).astype(np.float32)


def pair_scores(template_feats: np.ndarray, template_ids: np.ndarray, pairs: np.ndarray,
                batch_size: int = 1_000_000, method: str = "auto") -> np.ndarray:
    """Cosine score (float32 [M]) of each template pair; streamed, memory bounded; method auto|blocked|gather."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if method not in ("auto", "blocked", "gather"):
        raise ValueError(f"unknown pair scoring method {method!r}; known: auto, blocked, gather")
    feats = torch.from_numpy(np.ascontiguousarray(template_feats, dtype=np.float32))
    if feats.ndim != 2 or len(feats) != len(template_ids):
        raise ValueError(f"template features {tuple(feats.shape)} do not match {len(template_ids)} template ids")
    rows = template_rows(template_ids, pairs)
    n_templates = len(feats)
    if method == "auto":
        method = "blocked" if len(rows) >= _DENSE_PAIRS_PER_CELL * n_templates**2 else "gather"
    scores = np.empty(len(rows), dtype=np.float32)
    if method == "gather":
        for start in range(0, len(rows), batch_size):
            batch = torch.from_numpy(rows[start:start + batch_size])
            a = feats.index_select(0, batch[:, 0])
            b = feats.index_select(0, batch[:, 1])
            scores[start:start + batch_size] = torch.einsum("ij,ij->i", a, b).numpy()
    else:
        rows.sort(axis=1)  # cosine is symmetric: only the upper triangle of the similarity matrix is needed
        block_rows = max(1, _GRAM_BLOCK_ELEMENTS // n_templates)
        block_of_pair = rows[:, 0] // block_rows
        for block in range(-(-n_templates // block_rows)):
            members = np.flatnonzero(block_of_pair == block)
            if len(members) == 0:
                continue
            first = block * block_rows
            gram = feats[first:first + block_rows] @ feats[first:].T
            for start in range(0, len(members), batch_size):
                idx = members[start:start + batch_size]
                r = torch.from_numpy(rows[idx] - first)
                scores[idx] = gram[r[:, 0], r[:, 1]].numpy()
    return scores


def evaluate_ijb(model: torch.nn.Module, suite_root: Path, suite: str, aligned_dir: Path, mode: str = STANDARD_MODE,
                 batch_size: int = 256, device: str | torch.device = "auto", input_size: int | None = None,
                 cache_dir: Path | None = None, checkpoint_sha256: str | None = None,
                 progress: bool = False) -> dict[str, Any]:
    """IJB 1:1 verification of a model on one suite (TAR@FAR, subsampled ROC, scores and labels) and its 1:N
    identification from the same embeddings (x2softmax.evaluate.identification)."""
    if suite not in IJB_SUITES:
        raise ValueError(f"unknown IJB suite {suite!r}; known: {', '.join(IJB_SUITES)}")
    parse_mode(mode)
    with reading():
        meta = load_ijb_suite(Path(suite_root), suite)
        images, index = load_aligned_store(Path(aligned_dir))
    names = list(index["name"])
    if names != list(meta.names):
        raise ValueError(
            f"{aligned_dir}: aligned store does not list the images of {suite_root}/meta in the same order "
            f"({len(names)} vs {len(meta.names)} images)"
        )
    device = resolve_device(device)

    def compute() -> np.ndarray:
        return embed_views(model, images, flip=True, batch_size=batch_size, device=device, input_size=input_size,
                           progress=progress)

    if cache_dir is not None and checkpoint_sha256 is not None:
        key = {"checkpoint": checkpoint_sha256, "data": store_fingerprint(Path(aligned_dir)),
               "views": "x,flip", "input_size": input_size}
        views = cached_embeddings(key, Path(cache_dir), compute)
    else:
        views = compute()
    feats = image_features(views[0], views[1], meta.faceness, mode)
    templates, tfeats = template_features(feats, meta.template_ids, meta.media_ids)
    if mode != STANDARD_MODE:  # 1:N always takes the reference's N1D1F2 features (the same embeddings)
        feats = image_features(views[0], views[1], meta.faceness, STANDARD_MODE)
        tfeats_1n = template_features(feats, meta.template_ids, meta.media_ids)[1]
    else:
        tfeats_1n = tfeats
    identified, identification_arrays = evaluate_identification(Path(suite_root), suite, templates, tfeats_1n)
    scores = pair_scores(tfeats, templates, meta.pairs)
    labels = np.asarray(meta.labels, dtype=np.uint8)
    fpr, tpr, _ = roc(scores, labels)
    n_impostors = int(np.sum(labels == 0))
    tar = tar_on_roc(fpr, tpr, n_impostors=n_impostors)
    return {
        "dataset": suite, "protocol": mode, "mode": mode,
        "tar_at_far": {far_key(far): None if np.isnan(value) else value for far, value in tar.items()},
        "not_measurable": {far_key(far): not_measurable_reason(far, n_impostors) for far, value in tar.items()
                           if np.isnan(value)},
        "lowest_measurable_far": lowest_measurable_far(n_impostors),
        "roc": subsample_roc(fpr, tpr),
        "counts": {"images": len(names), "images_not_aligned": int((~index["ok"].astype(bool)).sum()),
                   "templates": len(templates), "pairs": len(labels), "genuine": int(labels.sum())},
        "scores": scores, "labels": labels,
        "identification": identified, "identification_arrays": identification_arrays,
    }
