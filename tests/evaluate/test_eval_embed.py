"""Embedding extraction (flip sum, resize, batching) and the embedding cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from x2softmax.data.images import resize
from x2softmax.evaluate.embed import cached_embeddings, embed_images, embed_images_modes


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).train()


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)


def _by_hand(model: nn.Module, images: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(images.astype(np.float32)).permute(0, 3, 1, 2)
    with torch.no_grad():
        return model((x / 255 - 0.5) / 0.5).numpy()


def test_flip_sum_and_views(model, images):
    plain, mirrored = _by_hand(model, images), _by_hand(model, images[:, :, ::-1].copy())
    assert np.allclose(embed_images(model, images, batch_size=2), plain + mirrored, atol=1e-5)
    assert np.allclose(embed_images(model, images, flip=False), plain, atol=1e-5)
    got_plain, got_mirrored = embed_images_modes(model, images, batch_size=3)
    assert np.allclose(got_plain, plain, atol=1e-5) and np.allclose(got_mirrored, mirrored, atol=1e-5)
    assert got_plain.dtype == np.float32 and got_plain.shape == (5, 4)
    assert model.training  # the caller's mode is restored


def test_resize_to_input_size(model, images):
    big = np.repeat(np.repeat(images, 2, axis=1), 2, axis=2)
    expected = _by_hand(model, np.stack([resize(img, 8) for img in big]))
    assert np.allclose(embed_images(model, big, flip=False, input_size=8), expected, atol=1e-5)


def test_bad_images_are_refused(model, images):
    with pytest.raises(ValueError, match="uint8"):
        embed_images(model, images.astype(np.float32))
    with pytest.raises(ValueError, match="no images"):
        embed_images(model, images[:0])


def test_cache_reuses_and_recomputes(tmp_path):
    calls = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.arange(6, dtype=np.float32).reshape(2, 3) * len(calls)

    key = {"checkpoint": "abc", "data": "def", "views": "x,flip"}
    first = cached_embeddings(key, tmp_path, compute)
    again = cached_embeddings(dict(reversed(list(key.items()))), tmp_path, compute)
    assert np.array_equal(first, again) and len(calls) == 1
    cached_embeddings({**key, "checkpoint": "xyz"}, tmp_path, compute)
    assert len(calls) == 2
    (entry,) = [p for p in tmp_path.glob("*.npy") if np.array_equal(np.load(p), first)]
    entry.write_bytes(b"not an npy file")
    with pytest.warns(UserWarning, match="unreadable embedding cache"):
        recomputed = cached_embeddings(key, tmp_path, compute)
    assert len(calls) == 3 and np.array_equal(np.load(entry), recomputed)
