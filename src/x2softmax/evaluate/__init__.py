"""Evaluation: embedding extraction, pair verification protocols, IJB-B/C 1:1 and 1:N, the tidy summary table."""

from __future__ import annotations

from x2softmax.evaluate.embed import (
    cached_embeddings,
    embed_images,
    embed_images_modes,
    embed_views,
    resolve_device,
)
from x2softmax.evaluate.ijb import (
    evaluate_ijb,
    image_features,
    pair_scores,
    tar_at_far,
    template_features,
)
from x2softmax.evaluate.run import evaluate_model
from x2softmax.evaluate.summary import combine_metrics, read_metrics, write_metrics
from x2softmax.evaluate.verification import evaluate_pairs

__all__ = [
    "cached_embeddings",
    "combine_metrics",
    "embed_images",
    "embed_images_modes",
    "embed_views",
    "evaluate_ijb",
    "evaluate_model",
    "evaluate_pairs",
    "image_features",
    "pair_scores",
    "read_metrics",
    "resolve_device",
    "tar_at_far",
    "template_features",
    "write_metrics",
]
