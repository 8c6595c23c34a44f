"""gpu-check's evaluation measurements: embedding rate at the evaluation batch, IJB-C-size template-pair scoring."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from x2softmax.gpucheck.shapes import Shapes


def embedding_rate(shapes: Shapes) -> dict[str, Any]:
    """Images/s of embed_views (each image and its flip) on random images at the evaluation batch size."""
    from x2softmax.evaluate.embed import embed_views
    from x2softmax.models import build_backbone

    model = build_backbone(shapes.backbone, shapes.embedding_size, shapes.input_size)
    images = np.random.default_rng(0).integers(0, 256, (shapes.eval_images, shapes.input_size, shapes.input_size, 3),
                                               dtype=np.uint8)
    embed_views(model, images[: shapes.eval_batch_size], batch_size=shapes.eval_batch_size, device=shapes.device)
    started = time.perf_counter()
    views = embed_views(model, images, batch_size=shapes.eval_batch_size, device=shapes.device)
    seconds = time.perf_counter() - started
    return {"images_per_s": views.shape[0] * shapes.eval_images / seconds, "batch_size": shapes.eval_batch_size,
            "finite": bool(np.isfinite(views).all())}


def ijb_scoring_time(shapes: Shapes) -> dict[str, Any]:
    """Seconds to score IJB-C's count of template pairs (pair_scores) and to compute their ROC (roc)."""
    from x2softmax.evaluate.curves import roc
    from x2softmax.evaluate.ijb import pair_scores

    rng = np.random.default_rng(0)
    feats = rng.standard_normal((shapes.ijb_templates, shapes.embedding_size), dtype=np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    template_ids = np.arange(shapes.ijb_templates, dtype=np.int64)
    pairs = rng.integers(0, shapes.ijb_templates, (shapes.ijb_pairs, 2), dtype=np.int64)
    labels = (rng.random(shapes.ijb_pairs) < 0.00125).astype(np.uint8)  # IJB-C's share of genuine pairs
    started = time.perf_counter()
    scores = pair_scores(feats, template_ids, pairs)
    scored = time.perf_counter()
    roc(scores, labels)
    done = time.perf_counter()
    return {"pairs": shapes.ijb_pairs, "templates": shapes.ijb_templates, "score_s": scored - started,
            "roc_s": done - scored, "scored_on": "cpu (x2softmax.evaluate.ijb.pair_scores is a host computation)",
            "finite": bool(np.isfinite(scores).all()), "cuda_visible": torch.cuda.is_available()}
