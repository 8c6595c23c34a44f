"""pack_folder: identity folders -> insightface RecordIO, read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from x2softmax.data.images import decode_image, encode_image
from x2softmax.data.pack import pack_folder
from x2softmax.data.recordio import FaceRecordIO, load_face_arrays


def test_pack_folder_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    src = tmp_path / "aligned"
    jpeg = encode_image(rng.integers(0, 255, (32, 32, 3), np.uint8), ".jpg")
    layout = {"zed": 1, "alice": 2, "bob": 3}
    for name, count in layout.items():
        (src / name).mkdir(parents=True)
        for i in range(count):
            img = rng.integers(0, 255, (48, 48, 3), np.uint8)
            (src / name / f"{i}.png").write_bytes(encode_image(img, ".png"))
    (src / "alice" / "ready.jpg").write_bytes(jpeg)
    (src / "alice" / "notes.txt").write_text("ignored")
    (src / "empty").mkdir()
    out = pack_folder(src, tmp_path / "train", size=32)
    reader = FaceRecordIO(out)
    assert reader.num_classes == 3 and reader.image_size == 32 and len(reader) == 7
    np.testing.assert_array_equal(reader.labels, [0, 0, 0, 1, 1, 1, 2])
    assert reader.encoded(2) == jpeg  # right-size JPEGs pass through unchanged
    classes = pd.read_csv(out / "classes.tsv", sep="\t")
    assert classes["name"].tolist() == ["alice", "bob", "zed"] and classes["images"].tolist() == [3, 3, 1]
    images, labels = load_face_arrays(out)
    assert images.shape == (7, 32, 32, 3)
    np.testing.assert_array_equal(images[2], decode_image(jpeg))


def test_pack_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        pack_folder(tmp_path / "nowhere", tmp_path / "out")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match="no identity subfolders"):
        pack_folder(tmp_path / "flat", tmp_path / "out")
    (tmp_path / "bad" / "p").mkdir(parents=True)
    (tmp_path / "bad" / "p" / "a.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"a\.jpg: cannot decode"):
        pack_folder(tmp_path / "bad", tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
