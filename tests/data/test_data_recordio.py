"""Images and RecordIO: encode/decode, framing with split records, the insightface layout, errors, Dataset."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from x2softmax.data.images import decode_image, decode_images, encode_image, resize
from x2softmax.data.recordio import (
    MAGIC,
    FaceRecordIO,
    IndexedRecordIO,
    RecordIODataset,
    RecordIOWriter,
    frame_record,
    load_face_arrays,
    pack_header,
    unpack_header,
    write_face_recordio,
)

MAGIC_BYTES = struct.pack("<I", MAGIC)


def face(seed: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_png_round_trip_is_exact_and_rgb() -> None:
    img = face(0)
    img[0, 0] = (255, 0, 0)
    data = encode_image(img, ".png")
    assert np.array_equal(decode_image(data), img)
    # OpenCV itself decodes to BGR: the red pixel must come out in the last channel there.
    assert tuple(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[0, 0]) == (0, 0, 255)


def test_jpeg_round_trip_is_close() -> None:
    img = np.full((16, 16, 3), (200, 30, 90), dtype=np.uint8)
    out = decode_image(encode_image(img, ".jpg", quality=95))
    assert out.shape == img.shape and np.abs(out.astype(int) - img).max() < 6


def test_bad_images_name_their_source() -> None:
    with pytest.raises(ValueError, match="my.jpg"):
        decode_image(b"not an image at all", source="my.jpg")
    with pytest.raises(ValueError, match="HxWx3"):
        encode_image(np.zeros((4, 4), np.uint8))


def test_resize_and_decode_many() -> None:
    img = face(1, 64)
    assert resize(img, 32).shape == (32, 32, 3)
    assert resize(img, 64) is img
    stack = decode_images([encode_image(face(i), ".png") for i in range(5)], size=16)
    assert stack.shape == (5, 16, 16, 3) and stack.dtype == np.uint8


def test_header_pack_unpack() -> None:
    header, payload = unpack_header(pack_header([3.0, 1.0], id=7, id2=9) + b"abc")
    assert header.flag == 2 and header.id == 7 and header.id2 == 9 and payload == b"abc"
    np.testing.assert_array_equal(header.label, [3.0, 1.0])
    header, payload = unpack_header(pack_header(5))
    assert header.flag == 0 and header.label == 5.0 and payload == b""
    with pytest.raises(ValueError, match="shorter"):
        unpack_header(b"abc")


def test_split_framing_matches_dmlc() -> None:
    record = b"abcd" + MAGIC_BYTES + b"efgh" + MAGIC_BYTES + MAGIC_BYTES + b"xy" + MAGIC_BYTES
    framed = frame_record(record)
    lrecs = [struct.unpack_from("<I", framed, pos + 4)[0] for pos in range(0, len(framed), 4)
             if framed[pos:pos + 4] == MAGIC_BYTES and pos % 4 == 0]
    # parts: 'abcd' (cflag 1), 'efgh' (2), '' (2), 'xy'+unaligned magic (3)
    assert [(lr >> 29, lr & ((1 << 29) - 1)) for lr in lrecs] == [(1, 4), (2, 4), (2, 0), (3, 6)]
    assert len(framed) % 4 == 0


def test_split_records_round_trip(tmp_path: Path) -> None:
    records = {
        3: b"",
        1: b"abc",
        7: MAGIC_BYTES + b"12345678" + MAGIC_BYTES,
        2: b"ab" + MAGIC_BYTES + b"cd",  # unaligned magic: not split
    }
    with RecordIOWriter(tmp_path / "a.rec", tmp_path / "a.idx") as writer:
        for key, record in records.items():
            writer.write(key, record)
    reader = IndexedRecordIO(tmp_path / "a.rec", tmp_path / "a.idx")
    assert reader.keys == [3, 1, 7, 2]
    assert {k: reader.read(k) for k in reader.keys} == records
    clone = pickle.loads(pickle.dumps(reader))
    assert clone.read(7) == records[7]


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_packed_files_get_the_umask_permissions(tmp_path: Path, mask: int) -> None:
    """Not mkstemp's 0600: other users of a shared cluster read a packed training set as their umask allows."""
    import os
    import stat

    old = os.umask(mask)
    try:
        with RecordIOWriter(tmp_path / "t.rec", tmp_path / "t.idx") as writer:
            writer.write(0, b"record")
    finally:
        os.umask(old)
    for name in ("t.rec", "t.idx"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask, name


def test_writer_is_atomic_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with RecordIOWriter(tmp_path / "a.rec", tmp_path / "a.idx") as writer:
            writer.write(0, b"data")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="duplicate"):
        with RecordIOWriter(tmp_path / "a.rec", tmp_path / "a.idx") as writer:
            writer.write(0, b"x")
            writer.write(0, b"y")
    assert list(tmp_path.iterdir()) == []


def jpeg_with_magic(seed: int) -> bytes:
    """A JPEG followed by padding and the RecordIO magic at a 4-aligned record offset (forces a split record)."""
    data = encode_image(face(seed), ".jpg")
    record_len = 24 + 8 + len(data)  # IRHeader + 2 float labels + payload
    return data + b"\0" * (-record_len % 4) + MAGIC_BYTES + b"tail"


def write_small_set(out: Path) -> tuple[list[np.ndarray], list[int]]:
    classes = [0, 0, 1, 3, 3, 3]
    images = [face(i) for i in range(len(classes))]
    payloads = [encode_image(img, ".png") for img in images]
    payloads[2] = jpeg_with_magic(2)
    write_face_recordio(out, zip(classes, payloads), num_classes=5, image_size=32)
    return images, classes


def test_face_recordio_insightface_layout(tmp_path: Path) -> None:
    images, classes = write_small_set(tmp_path)
    assert (tmp_path / "property").read_text().strip() == "5,32,32"
    raw = IndexedRecordIO(tmp_path / "train.rec", tmp_path / "train.idx")
    header0, _ = unpack_header(raw.read(0))
    np.testing.assert_array_equal(header0.label, [7, 12])
    assert raw.read(3).count(MAGIC_BYTES) == 1
    reader = FaceRecordIO(tmp_path)
    assert len(reader) == 6 and reader.num_classes == 5 and reader.image_size == 32
    np.testing.assert_array_equal(reader.labels, classes)
    np.testing.assert_array_equal(reader.identity_ranges(), [[0, 2], [2, 3], [3, 3], [3, 6], [6, 6]])
    assert np.array_equal(reader.image(0), images[0])
    assert reader.image(2).shape == (32, 32, 3)  # the split JPEG still decodes
    arrays, labels = load_face_arrays(tmp_path)
    assert arrays.shape == (6, 32, 32, 3) and np.array_equal(arrays[5], images[5])
    np.testing.assert_array_equal(labels, classes)
    small, _ = load_face_arrays(tmp_path, size=16)
    assert small.shape == (6, 16, 16, 3)


def test_plain_im2rec_layout_without_property(tmp_path: Path) -> None:
    with RecordIOWriter(tmp_path / "train.rec", tmp_path / "train.idx") as writer:
        for key, label in enumerate([2, 0, 1]):
            writer.write(key, pack_header(float(label)) + encode_image(face(key), ".png"))
    reader = FaceRecordIO(tmp_path)
    assert len(reader) == 3 and reader.num_classes == 3 and reader.image_size == 32
    np.testing.assert_array_equal(reader.labels, [2, 0, 1])


def test_write_face_recordio_rejects_unsorted_classes(tmp_path: Path) -> None:
    png = encode_image(face(0), ".png")
    with pytest.raises(ValueError, match="increasing class id"):
        write_face_recordio(tmp_path, [(1, png), (0, png)], num_classes=2)
    with pytest.raises(ValueError, match="outside"):
        write_face_recordio(tmp_path, [(2, png)], num_classes=2)
    assert not (tmp_path / "train.rec").exists()


def test_corrupt_files_name_file_and_offset(tmp_path: Path) -> None:
    write_small_set(tmp_path)
    rec, idx = tmp_path / "train.rec", tmp_path / "train.idx"
    offset = int(idx.read_text().splitlines()[4].split("\t")[1])
    data = bytearray(rec.read_bytes())
    data[offset] ^= 0xFF
    rec.write_bytes(bytes(data))
    reader = IndexedRecordIO(rec, idx)
    with pytest.raises(ValueError, match=rf"train\.rec: bad magic .* byte offset {offset}"):
        reader.read(4)
    with pytest.raises(ValueError, match=rf"byte offset {offset}"):
        load_face_arrays(tmp_path)
    rec.write_bytes(bytes(data[: offset + 20]))
    with pytest.raises(ValueError, match=r"outside"):
        IndexedRecordIO(rec, idx)
    idx.write_text("0\t0\n1\tabc\n")
    with pytest.raises(ValueError, match=r"train\.idx:2"):
        IndexedRecordIO(rec, idx)


def test_truncated_record(tmp_path: Path) -> None:
    rec, idx = tmp_path / "a.rec", tmp_path / "a.idx"
    with RecordIOWriter(rec, idx) as writer:
        writer.write(0, b"first")
        writer.write(1, b"x" * 100)
    offset = int(idx.read_text().splitlines()[1].split("\t")[1])
    rec.write_bytes(rec.read_bytes()[: offset + 30])
    reader = IndexedRecordIO(rec, idx)
    assert reader.read(0) == b"first"
    with pytest.raises(ValueError, match=rf"a\.rec: truncated record at byte offset {offset}"):
        reader.read(1)
    rec.write_bytes(rec.read_bytes()[: offset + 4])
    with pytest.raises(ValueError, match=rf"truncated record header at byte offset {offset}"):
        IndexedRecordIO(rec, idx).read(1)


@pytest.mark.slow  # the DataLoader starts worker processes (the tier rule reads the tests' code only)
def test_dataset_in_dataloader_workers(tmp_path: Path) -> None:
    images, classes = write_small_set(tmp_path)
    dataset = RecordIODataset(tmp_path, transform=lambda img: torch.from_numpy(img[:, ::-1].copy()))
    dataset.reader.image(0)  # opens a handle in the parent before forking
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=2)
    batches = list(loader)
    labels = torch.cat([y for _, y in batches]).tolist()
    assert labels == classes
    assert torch.equal(batches[0][0][1], torch.from_numpy(images[1][:, ::-1].copy()))
