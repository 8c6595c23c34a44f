"""Corrupt and truncated data files (RecordIO, .bin, IJB suites) met by `x2softmax data check`, packing and
training: one line naming the file and the record key, byte offset or line; warnings with counts for resized data."""

from __future__ import annotations

import pickle
import re
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from x2softmax.data.ijb import write_identification_meta, write_ijb_meta
from x2softmax.data.images import encode_image
from x2softmax.data.pairs import write_bin
from x2softmax.data.recordio import write_face_recordio

from .conftest import cli_capped, one_line_error, python_capped, run_capped
from .test_fault_bounds import png_bomb

SIZE, CLASSES, PER_CLASS = 16, 3, 10


def _png(seed: int, size: int = SIZE) -> bytes:
    return encode_image(np.random.default_rng(seed).integers(0, 255, (size, size, 3), np.uint8), ".png")


def _training_set(out: Path, odd_size_at: int | None = None) -> Path:
    samples = [(i // PER_CLASS, _png(i, SIZE + 4 if i == odd_size_at else SIZE)) for i in range(CLASSES * PER_CLASS)]
    return write_face_recordio(out, samples, CLASSES, image_size=SIZE)


def _offset(train: Path, key: int) -> int:
    line = (train / "train.idx").read_text().splitlines()[key]
    return int(line.split("\t")[1])


def _label_offset(train: Path, key: int) -> int:
    """Byte offset of a record's (first) label: the scalar in the IRHeader, or the first of its label vector."""
    at = _offset(train, key) + 8
    flag = struct.unpack("<I", (train / "train.rec").read_bytes()[at: at + 4])[0]
    return at + 4 if flag == 0 else at + 24


def _payload_offset(train: Path, key: int) -> int:
    at = _offset(train, key) + 8
    flag = struct.unpack("<I", (train / "train.rec").read_bytes()[at: at + 4])[0]
    return at + 24 + 4 * flag


def _patch(path: Path, at: int, data: bytes) -> None:
    content = bytearray(path.read_bytes())
    content[at: at + len(data)] = data
    path.write_bytes(bytes(content))


# Key 15 is not among the 8 images a sampled check decodes (keys 1, 5, 9, 13, 17, 21, 25, 30).
RECORDIO: dict[str, tuple[Callable[[Path], None], str]] = {
    "train.rec truncated mid-record": (
        lambda t: (t / "train.rec").write_bytes((t / "train.rec").read_bytes()[: _offset(t, 20) + 30]),
        r"train\.(rec|idx).*(truncated|outside)"),
    "bad magic at a record": (lambda t: _patch(t / "train.rec", _offset(t, 9), b"\xde\xad\xbe\xef"),
                              r"train\.rec: bad magic .*byte offset"),
    "corrupt PNG in an unsampled record": (lambda t: _patch(t / "train.rec", _payload_offset(t, 15), b"garbage!"),
                                           r"train\.rec key 15: cannot decode"),
    "NaN label in a record header": (lambda t: _patch(t / "train.rec", _label_offset(t, 11), struct.pack("<f", np.nan)),
                                     r"train\.rec key 11: label nan is not a class id"),
    "huge label in a record header": (lambda t: _patch(t / "train.rec", _label_offset(t, 11), struct.pack("<f", 3e38)),
                                      r"train\.rec key 11: label .* is not a class id"),
    "garbage line in train.idx": (
        lambda t: (t / "train.idx").write_text((t / "train.idx").read_text().replace("\n", "\nxyz\n", 1)),
        r"train\.idx:2"),
    "train.idx offset beyond the end of train.rec": (
        lambda t: (t / "train.idx").write_text((t / "train.idx").read_text() + "99\t99999999\n"), r"outside"),
    "property declares fewer classes than the labels": (lambda t: (t / "property").write_text(f"2,{SIZE},{SIZE}\n"),
                                                        r"label 2 outside \[0, 2\)"),
    "property is not numbers": (lambda t: (t / "property").write_text("classes=3\n"), r"property"),
    "empty train.idx": (lambda t: (t / "train.idx").write_text(""), r"no images|train\.idx"),
    "missing train.idx": (lambda t: (t / "train.idx").unlink(), r"train\.idx"),
}


@pytest.mark.parametrize("case", sorted(RECORDIO))
def test_corrupt_recordio_fails_data_check_in_one_line(tmp_path: Path, case: str) -> None:
    train = _training_set(tmp_path / "train")
    before = {p.name: p.read_bytes() for p in train.iterdir()}
    corrupt, expected = RECORDIO[case]
    corrupt(train)
    damaged = {p.name: p.read_bytes() for p in train.iterdir()}
    code, err = cli_capped(["data", "check", str(train)], timeout=60)
    line = one_line_error(err)
    assert code != 0 and str(train) in line, line
    assert re.search(expected, line), line
    assert {p.name: p.read_bytes() for p in train.iterdir()} == damaged  # the check changes nothing
    assert before  # (the set was whole before the fault)


def test_a_sampled_check_says_how_many_it_decoded(tmp_path: Path) -> None:
    train = _training_set(tmp_path / "train")
    _patch(train / "train.rec", _payload_offset(train, 15), b"garbage!")
    done = run_capped([sys.executable, "-m", "x2softmax", "data", "check", str(train), "--sample", "8"], timeout=60)
    assert "8 of 30 images sampled and decoded" in done.stdout, done.stderr
    code, err = cli_capped(["data", "check", str(train)], timeout=60)
    assert code != 0 and "key 15" in one_line_error(err)


def test_a_whole_check_says_it_decoded_everything(tmp_path: Path) -> None:
    train = _training_set(tmp_path / "train")
    done = run_capped([sys.executable, "-m", "x2softmax", "data", "check", str(train)], timeout=60)
    assert "all 30 images decoded" in done.stdout, done.stderr


def test_wrong_size_image_is_an_error_in_check_and_a_counted_warning_in_training(
        tmp_path: Path) -> None:
    train = _training_set(tmp_path / "train", odd_size_at=12)
    code, err = cli_capped(["data", "check", str(train)], timeout=60)
    assert code != 0 and f"1 images are not {SIZE}x{SIZE}" in one_line_error(err) and "key 13" in err
    done = python_capped("from pathlib import Path\nfrom x2softmax.data.recordio import load_face_arrays\n"
                         f"print(load_face_arrays(Path({str(train)!r}), size={SIZE})[0].shape)", timeout=60)
    assert done.stdout.strip() == f"(30, {SIZE}, {SIZE}, 3)", done.stderr
    warning = done.stderr
    assert f"warning: {train / 'train.rec'}: 1 of 30 images are not {SIZE}x{SIZE} and were resized" in warning
    assert f"key 13 is {SIZE + 4}x{SIZE + 4}" in warning


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return __import__("os").system, (f"touch {self.marker}",)


def _bin(path: Path, images: list[bytes], issame: list[bool]) -> None:
    write_bin(path, images, issame)


BIN: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (lambda p: (_bin(p, [_png(i) for i in range(8)], [True, False] * 2),
                             p.write_bytes(p.read_bytes()[:200])), r"not a valid pickle"),
    "not a pickle": (lambda p: p.write_bytes(b"PK\x03\x04 zip, not a pickle"), r"not a valid pickle|pickle"),
    "malicious global": (lambda p: p.write_bytes(pickle.dumps(([_Exploit(p.with_name("pwned"))], []), protocol=2)),
                         r"refused to load global"),
    "odd number of images": (lambda p: p.write_bytes(pickle.dumps(([_png(0)] * 3, [True]))), r"3 images for 1 pairs"),
    "issame not booleans": (lambda p: p.write_bytes(pickle.dumps(([_png(0)] * 2, ["yes"]))), r"issame"),
    "undecodable image not among the sampled": (
        lambda p: _bin(p, [_png(i) for i in range(5)] + [b"junk"] + [_png(i) for i in range(6, 20)], [True] * 10),
        r"image 5: cannot decode"),
    "images of two sizes": (lambda p: _bin(p, [_png(0), _png(1, 20)], [True]), r"differ in size"),
}


@pytest.mark.parametrize("case", sorted(BIN))
def test_corrupt_bin_fails_data_check_in_one_line(tmp_path: Path, case: str) -> None:
    path = tmp_path / "lfw.bin"
    corrupt, expected = BIN[case]
    corrupt(path)
    code, err = cli_capped(["data", "check", str(path)], timeout=60)
    line = one_line_error(err)
    assert code != 0 and str(path) in line and re.search(expected, line), line
    assert not (tmp_path / "pwned").exists()


def _ijb(root: Path) -> Path:
    names = [f"{i}.jpg" for i in range(12)]
    (root / "loose_crop").mkdir(parents=True)
    for i, name in enumerate(names):
        (root / "loose_crop" / name).write_bytes(_png(i, 40))
    write_ijb_meta(root, "IJBC", names, [1] * 6 + [2] * 6, list(range(1, 13)), np.full((12, 5, 2), 20.0),
                   np.ones(12), np.array([[1, 2, 0], [1, 1, 1]]))
    write_identification_meta(root, "IJBC", {"gallery_1": ([1], [7]), "gallery_2": ([2], [8]),
                                             "probe": ([1, 2], [7, 8])}, names, [1] * 6 + [2] * 6)
    return root


def _rename_image(root: Path, new: str) -> None:
    for meta in (root / "meta").glob("*.txt"):
        meta.write_text(meta.read_text().replace("0.jpg ", f"{new} ", 1))


def _repeat_pair(root: Path, label: str | None = None) -> None:
    pairs = next((root / "meta").glob("*pair_label*"))
    first = pairs.read_text().splitlines()[0]
    again = first if label is None else " ".join(first.split()[:2] + [label])
    pairs.write_text(pairs.read_text() + again + "\n")


IJB: dict[str, tuple[Callable[[Path], None], str]] = {
    "an absolute image path": (lambda r: _rename_image(r, "/etc/hostname"), r"not a path inside loose_crop"),
    "an image path with ..": (lambda r: _rename_image(r, "../../secret.jpg"), r"not a path inside loose_crop"),
    "a pair line listed twice": (_repeat_pair, r"listed twice"),
    "a pair listed twice with both labels": (lambda r: _repeat_pair(r, "1"), r"listed twice"),
    "a decompression bomb among the images": (
        lambda r: (r / "loose_crop" / "5.jpg").write_bytes(png_bomb(60000)), r"5\.jpg: image declares 60000x60000"),
    "listed image missing": (lambda r: (r / "loose_crop" / "7.jpg").unlink(), r"1 of 12 listed images missing"),
    "corrupt image not among the sampled": (lambda r: (r / "loose_crop" / "3.jpg").write_bytes(b"\xff\xd8 cut"),
                                            r"3\.jpg: cannot decode"),
    "meta file truncated mid-line": (
        lambda r: next((r / "meta").glob("*5pts*")).write_text(
            next((r / "meta").glob("*5pts*")).read_text()[:40]), r"meta"),
    "a 1:N list missing": (lambda r: (r / "meta" / "ijbc_1N_probe_mixed.csv").unlink(),
                           r"ijbc_1N_probe_mixed\.csv: IJB 1:N meta file not found"),
    "a 1:N list with a text subject id": (
        lambda r: (r / "meta" / "ijbc_1N_gallery_G1.csv").write_text("TEMPLATE_ID,SUBJECT_ID\n1,seven\n"),
        r"ijbc_1N_gallery_G1\.csv:2: template id and subject id must be integers"),
}


@pytest.mark.parametrize("case", sorted(IJB))
def test_corrupt_ijb_suite_fails_data_check_in_one_line(tmp_path: Path, case: str) -> None:
    root = _ijb(tmp_path / "IJBC")
    corrupt, expected = IJB[case]
    corrupt(root)
    code, err = cli_capped(["data", "check", str(root)], timeout=60)
    line = one_line_error(err)
    assert code != 0 and str(root) in line and re.search(expected, line), line


def test_packing_warns_with_counts(tmp_path: Path) -> None:
    folder = tmp_path / "faces"
    for person, sizes in {"ann": [SIZE, SIZE + 8], "bob": [SIZE], "empty": [], "zed": [SIZE * 2, SIZE * 2]}.items():
        (folder / person).mkdir(parents=True)
        for i, size in enumerate(sizes):
            (folder / person / f"{i}.png").write_bytes(_png(i, size))
    packed = tmp_path / "packed"
    done = python_capped("from pathlib import Path\nfrom x2softmax.data.pack import pack_folder\n"
                         f"pack_folder(Path({str(folder)!r}), Path({str(packed)!r}), size={SIZE})", timeout=60)
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert f"warning: {folder}: 1 of 4 identity folders hold no images and were skipped (first: empty)" in err
    assert f"warning: pack: 3 of 5 images are not {SIZE}x{SIZE} and were resized" in err
    assert (tmp_path / "packed" / "classes.tsv").read_text().count("\n") == 4  # header + 3 identities




@pytest.mark.parametrize("text", [b"{not json", b"\xe9t\xe9", b"[1, 2]"])
def test_a_resolved_config_that_is_not_json_is_named(tmp_path: Path, text: bytes) -> None:
    (tmp_path / "config.json").write_bytes(text)
    done = python_capped("from x2softmax.report.params import run_config\n"
                         f"try:\n    run_config({str(tmp_path)!r})\nexcept ValueError as err:\n    print(err)",
                         timeout=60)
    assert done.returncode == 0 and str(tmp_path / "config.json") in done.stdout, done.stdout + done.stderr
