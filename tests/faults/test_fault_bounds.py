"""Tiny files that declare huge things: decompression bombs in every image container, RecordIO headers, property
files and indexes that announce more than the file holds, .bin pickles that expand through shared references.
Each case runs `x2softmax` in a subprocess capped at 2 GiB of address space and a time limit: it must end with
one line naming the file, fast."""

from __future__ import annotations

import json
import pickle
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from x2softmax.data.images import encode_image
from x2softmax.data.pairs import write_bin
from x2softmax.data.recordio import pack_header, write_face_recordio

from .conftest import cli_capped, one_line_error, run_capped

SIZE = 16


def _png(seed: int) -> bytes:
    return encode_image(np.random.default_rng(seed).integers(0, 255, (SIZE, SIZE, 3), np.uint8), ".png")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int) -> bytes:
    """A valid PNG header declaring side x side RGB pixels, with a few KB of zlib'd zero rows."""
    rows = zlib.compress(b"\0" * (1 + 3 * side) * 64, 9)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def jpeg_bomb(side: int) -> bytes:
    """A real JPEG whose frame header is patched to declare side x side pixels."""
    data = bytearray(encode_image(np.zeros((SIZE, SIZE, 3), np.uint8), ".jpg"))
    at = data.index(b"\xff\xc0") + 5
    data[at: at + 4] = struct.pack(">HH", side, side)
    return bytes(data)


def bmp_bomb(side: int) -> bytes:
    ok, buf = cv2.imencode(".bmp", np.zeros((SIZE, SIZE, 3), np.uint8))
    data = bytearray(buf.tobytes())
    data[18:26] = struct.pack("<ii", side, side)
    return bytes(data)


BOMBS: dict[str, Callable[[], bytes]] = {
    "png 60000x60000": lambda: png_bomb(60000),
    "png 30000x30000": lambda: png_bomb(30000),
    "jpeg 60000x60000": lambda: jpeg_bomb(60000),
    "bmp 50000x50000": lambda: bmp_bomb(50000),
}


def _in_bin(tmp: Path, bomb: bytes) -> tuple[list[str], Path]:
    path = tmp / "lfw.bin"
    write_bin(path, [_png(0), bomb, _png(2), _png(3)], [True, False])
    return ["data", "check", str(path)], path


def _in_recordio(tmp: Path, bomb: bytes) -> tuple[list[str], Path]:
    train = write_face_recordio(tmp / "train", [(0, _png(0)), (0, bomb), (1, _png(2)), (1, _png(3))], 2, SIZE)
    return ["data", "check", str(train)], train / "train.rec"


def _in_folder(tmp: Path, bomb: bytes) -> tuple[list[str], Path]:
    for person in ("a", "b"):
        (tmp / "faces" / person).mkdir(parents=True)
        (tmp / "faces" / person / "0.png").write_bytes(_png(0))
    bad = tmp / "faces" / "b" / "1.png"
    bad.write_bytes(bomb)
    return ["data", "pack", str(tmp / "faces"), "--out", str(tmp / "packed"), "--size", str(SIZE)], bad


CONTAINERS = {".bin": _in_bin, "RecordIO": _in_recordio, "folder to pack": _in_folder}


@pytest.mark.parametrize("container", list(CONTAINERS))
@pytest.mark.parametrize("bomb", list(BOMBS))
def test_decompression_bombs_are_refused_from_their_header(tmp_path: Path, container: str, bomb: str) -> None:
    argv, named = CONTAINERS[container](tmp_path, BOMBS[bomb]())
    code, err = cli_capped(argv, timeout=60)
    line = one_line_error(err)
    assert code != 0 and str(named) in line and "decompression bomb" in line, line


def _training(tmp: Path) -> Path:
    return write_face_recordio(tmp / "train", [(i // 3, _png(i)) for i in range(9)], 3, SIZE)


def _patch_record0(train: Path, label: list[float]) -> None:
    rec = bytearray((train / "train.rec").read_bytes())
    header = pack_header(label)
    rec[8: 8 + len(header)] = header
    (train / "train.rec").write_bytes(bytes(rec))


def _patch_idx(train: Path, key: int, offset: int) -> None:
    lines = (train / "train.idx").read_text().splitlines()
    lines[key] = f"{key}\t{offset}"
    (train / "train.idx").write_text("\n".join(lines) + "\n")


def _patch_length(train: Path, key: int, length: int) -> None:
    offset = int((train / "train.idx").read_text().splitlines()[key].split("\t")[1])
    rec = bytearray((train / "train.rec").read_bytes())
    rec[offset + 4: offset + 8] = struct.pack("<I", length)
    (train / "train.rec").write_bytes(bytes(rec))


def _nested(depth: int, leaf: object) -> object:
    node: object = [leaf, leaf]
    for _ in range(depth):
        node = [node, node]
    return node


def _shared_images(path: Path) -> None:
    image = _png(0)
    path.write_bytes(pickle.dumps(([image] * 2_000_000, [True] * 1_000_000), protocol=2))


RECORDIO: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "header announces 10^9 images": (lambda t: _patch_record0(t, [1e9, 1e9 + 3]), "train.rec", "announces"),
    "header announces 2^31 identities": (lambda t: _patch_record0(t, [10, 2.0**31]), "train.rec", "announces"),
    "property declares 2e9 classes": (lambda t: (t / "property").write_text(f"2000000000,{SIZE},{SIZE}"),
                                      "property", "classes"),
    "property declares 60000 px images": (lambda t: (t / "property").write_text("3,60000,60000"),
                                          "property", "X2S_MAX_IMAGE_PIXELS"),
    "idx offset past the end": (lambda t: _patch_idx(t, 4, 10**12), "train.idx", "outside"),
    "record declares 512 MB": (lambda t: _patch_length(t, 4, (1 << 29) - 4), "train.rec", "declared"),
}


@pytest.mark.parametrize("case", list(RECORDIO))
def test_recordio_declarations_are_bounded_by_the_file(tmp_path: Path, case: str) -> None:
    train = _training(tmp_path)
    corrupt, named, expected = RECORDIO[case]
    corrupt(train)
    code, err = cli_capped(["data", "check", str(train)], timeout=60)
    line = one_line_error(err)
    assert code != 0 and str(train / named) in line and expected in line, line


BINS: dict[str, tuple[Callable[[Path], None], str]] = {
    "2,000,000 shared references to one image": (_shared_images, "shared pickle references"),
    "issame of nested shared lists": (
        lambda p: p.write_bytes(pickle.dumps(([_png(0), _png(1)], _nested(80, True)), protocol=2)), "issame"),
    "images of nested shared lists": (
        lambda p: p.write_bytes(pickle.dumps((_nested(80, _png(0)), [True]), protocol=2)), "image 0 is a list"),
    "issame a shared list of 10^6 flags in 10^3 rows": (
        lambda p: p.write_bytes(pickle.dumps(([_png(0), _png(1)], [[True] * 1000] * 1000), protocol=2)), "issame"),
    "one image array shared 100,000 times": (
        lambda p: p.write_bytes(pickle.dumps(([np.frombuffer(_png(0), np.uint8)] * 100_000, [True] * 50_000),
                                             protocol=2)), "shared pickle references"),
}


@pytest.mark.parametrize("case", list(BINS))
def test_bin_pickles_cannot_expand_beyond_their_size(tmp_path: Path, case: str) -> None:
    path = tmp_path / "lfw.bin"
    write, expected = BINS[case]
    write(path)
    code, err = cli_capped(["data", "check", str(path)], timeout=60)
    line = one_line_error(err)
    assert code != 0 and str(path) in line and expected in line, line


HEAVY = ("torch", "pandas", "scipy")
_REFUSE_ALL = """import json, sys
from x2softmax.cli import main
HEAVY = {heavy!r}
for argv in json.loads(sys.argv[1]):
    try:
        main(argv)
    except SystemExit as stop:
        assert stop.code not in (0, None), argv
    else:
        raise AssertionError(f"{{argv}} was not refused")
    loaded = sorted(name for name in HEAVY if name in sys.modules)
    assert not loaded, f"x2softmax {{' '.join(argv)}} imported {{loaded}} before refusing its input"
"""


def test_refusals_of_the_readers_import_no_heavy_library(tmp_path: Path) -> None:
    """A refused file costs the command's start-up only (torch, pandas or scipy each cost 0.3-2 CPU-s per process):
    the dataset checks, the config check's schema errors, the index's config, toy's and train's arguments."""
    (tmp_path / "lfw.bin").write_bytes(b"garbage")
    train = _training(tmp_path)
    _patch_length(train, 4, (1 << 29) - 4)
    (tmp_path / "preset.yaml").write_text("train:\n  lr: -0.1\n")
    (tmp_path / "config.json").write_text("{preset: smoke,")
    argvs = [["data", "check", str(tmp_path / "lfw.bin")], ["data", "check", str(train)],
             ["data", "preflight", "lfw", "--root", str(tmp_path / "none")],
             ["config-check", "--preset", str(tmp_path / "preset.yaml")],
             ["report", "index", "--config", str(tmp_path / "config.json"), "--out", str(tmp_path / "index.html")],
             ["toy", "--loss", "arcface", "--dim", "2", "--dim", "3", "--out", str(tmp_path / "toy.npz")],
             ["train", "--out", str(tmp_path / "out")]]
    done = run_capped([sys.executable, "-c", _REFUSE_ALL.format(heavy=HEAVY), json.dumps(argvs)], timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
