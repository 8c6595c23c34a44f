"""Decoded pair stores: the .bin's distinct images at the input size, refused when stale or malformed."""

from __future__ import annotations

import numpy as np
import pytest

from x2softmax.data.images import encode_image
from x2softmax.data.pair_store import load_pair_store, write_pair_store
from x2softmax.data.pairs import load_bin_unique, write_bin


@pytest.fixture
def bin_path(tmp_path):
    rng = np.random.default_rng(3)
    faces = rng.integers(0, 256, (6, 40, 40, 3)).astype(np.uint8)
    slots = [0, 1, 2, 2, 3, 0, 4, 5]  # image 0 and 2 serve two pair slots
    path = tmp_path / "set.bin"
    write_bin(path, [encode_image(faces[i], ".png") for i in slots], [False, True, False, False])
    return path


def test_the_store_holds_the_distinct_images_resized_as_the_bin_loader_resizes_them(tmp_path, bin_path):
    store = write_pair_store(bin_path, tmp_path / "set.npz", 24)
    images, index, issame = load_pair_store(store, bin_path, 24)
    expected = load_bin_unique(bin_path, size=24)
    assert images.shape == (6, 24, 24, 3)
    for got, want in zip((images, index, issame), expected):
        assert np.array_equal(got, want) and got.dtype == want.dtype


def test_a_store_of_another_bin_or_size_is_refused(tmp_path, bin_path):
    store = write_pair_store(bin_path, tmp_path / "set.npz", 24)
    with pytest.raises(ValueError, match=r"set\.npz: images are uint8 \(6, 24, 24, 3\), expected uint8 \[N, 32"):
        load_pair_store(store, bin_path, 32)
    data = bin_path.read_bytes()
    bin_path.write_bytes(data + b"\0")
    with pytest.raises(ValueError, match=r"set\.npz: decoded from another version of .*set\.bin"):
        load_pair_store(store, bin_path, 24)


@pytest.mark.parametrize("content", [b"not an npz", None])
def test_a_malformed_store_gets_one_line_naming_it(tmp_path, bin_path, content):
    path = tmp_path / "bad.npz"
    if content is None:  # an npz with the right keys whose index points past the images
        images, index, issame = load_bin_unique(bin_path, size=24)
        from x2softmax.io import file_sha256
        np.savez(path, images=images, index=index + 100, issame=issame, source_sha256=np.array(file_sha256(bin_path)))
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=r"bad\.npz: "):
        load_pair_store(path, bin_path, 24)
