"""Verification .bin sets: round trips, Python-2 pickles, numpy issame arrays, refused globals, corrupt files."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from x2softmax.data.images import encode_image
from x2softmax.data.pairs import load_bin_images, read_bin, restricted_loads, write_bin


def bins(n: int = 4) -> list[bytes]:
    return [encode_image(np.full((20, 20, 3), 40 * i, np.uint8), ".png") for i in range(n)]


def py2_pickle(images: list[bytes], issame: list[bool]) -> bytes:
    """Hand-built protocol-2 pickle as Python 2 writes str: STRING, BINSTRING and SHORT_BINSTRING opcodes."""
    out = [b"\x80\x02", b"]", b"("]  # PROTO 2, EMPTY_LIST, MARK
    for i, data in enumerate(images):
        if i % 3 == 0:
            literal = "".join(f"\\x{c:02x}" for c in data)
            out.append(b"S'" + literal.encode("ascii") + b"'\n")  # STRING (text protocol-0 opcode)
        elif i % 3 == 1:
            out.append(b"T" + len(data).to_bytes(4, "little") + data)  # BINSTRING
        else:
            assert len(data) < 256
            out.append(b"U" + bytes([len(data)]) + data)  # SHORT_BINSTRING
    out += [b"e", b"]", b"("]  # APPENDS, EMPTY_LIST, MARK
    out += [b"\x88" if s else b"\x89" for s in issame]  # NEWTRUE / NEWFALSE
    out += [b"e", b"\x86", b"."]  # APPENDS, TUPLE2, STOP
    return b"".join(out)


def test_round_trip_and_decode(tmp_path: Path) -> None:
    images = bins()
    write_bin(tmp_path / "lfw.bin", images, [True, False])
    got, issame = read_bin(tmp_path / "lfw.bin")
    assert got == images and issame.dtype == bool and issame.tolist() == [True, False]
    decoded, issame = load_bin_images(tmp_path / "lfw.bin")
    assert decoded.shape == (4, 20, 20, 3) and decoded[3, 0, 0, 0] == 120
    assert load_bin_images(tmp_path / "lfw.bin", size=8)[0].shape == (4, 8, 8, 3)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python3_pickles_with_numpy_issame(tmp_path: Path, protocol: int) -> None:
    images = bins()
    for issame in (np.array([True, False]), [np.True_, np.False_]):
        (tmp_path / "x.bin").write_bytes(pickle.dumps((images, issame), protocol=protocol))
        got, flags = read_bin(tmp_path / "x.bin")
        assert got == images and flags.tolist() == [True, False]


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_build_eval_pack_layout_loads(tmp_path: Path, protocol: int) -> None:
    """insightface build_eval_pack.py appends cv2.imencode('.jpg', im)[1] per image: with OpenCV 3/4 (its era, and
    its small_lfw.bin) a uint8 [N, 1] array; OpenCV 5 returns [N], so the column shape is restored here."""
    import cv2

    faces = [np.full((16, 16, 3), 30 * i, np.uint8) for i in range(4)]
    encoded = [cv2.imencode(".jpg", face)[1].reshape(-1, 1) for face in faces]
    (tmp_path / "small_lfw.bin").write_bytes(pickle.dumps((encoded, [True, False]), protocol=protocol))
    got, issame = read_bin(tmp_path / "small_lfw.bin")
    assert got == [e.tobytes() for e in encoded] and issame.tolist() == [True, False]
    images, _ = load_bin_images(tmp_path / "small_lfw.bin")
    assert images.shape == (4, 16, 16, 3) and abs(int(images[3, 8, 8, 0]) - 90) <= 2
    wide = [np.zeros((5, 2), np.uint8)] * 4  # any other 2-D array is not an encoded image
    (tmp_path / "wide.bin").write_bytes(pickle.dumps((wide, [True, False]), protocol=protocol))
    with pytest.raises(ValueError, match=r"wide\.bin: image 0 is a uint8 array of shape \(5, 2\)"):
        read_bin(tmp_path / "wide.bin")


def test_python2_pickle(tmp_path: Path) -> None:
    small = [bytes([0, 255, 10, 39, 92, 128]) * (i + 1) for i in range(6)]
    (tmp_path / "py2.bin").write_bytes(py2_pickle(small, [True, False, True]))
    got, issame = read_bin(tmp_path / "py2.bin")
    assert got == small and issame.tolist() == [True, False, True]
    images = bins(2)
    (tmp_path / "img.bin").write_bytes(py2_pickle([images[0], images[1]], [False]))
    assert load_bin_images(tmp_path / "img.bin")[0].shape == (2, 20, 20, 3)


class Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickles_are_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "evil.bin").write_bytes(pickle.dumps(([Exploit(marker)], []), protocol=2))
    with pytest.raises(ValueError, match=r"evil\.bin: refused to load global (posix|os)\.system"):
        read_bin(tmp_path / "evil.bin")
    assert not marker.exists()
    with pytest.raises(ValueError, match="builtins.eval"):
        restricted_loads(b"cbuiltins\neval\n(S'1'\ntR.", source="x.bin")
    # _codecs.encode is allowed only for latin-1 (how protocol-2 pickles carry bytes)
    with pytest.raises(ValueError, match="refused"):
        restricted_loads(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R.", source="x.bin")
    with pytest.raises(ValueError, match="dtype"):
        restricted_loads(pickle.dumps(np.array([object()], dtype=object)), source="x.bin")


def test_corrupt_and_malformed_files(tmp_path: Path) -> None:
    write_bin(tmp_path / "ok.bin", bins(), [True, False])
    (tmp_path / "cut.bin").write_bytes((tmp_path / "ok.bin").read_bytes()[:100])
    with pytest.raises(ValueError, match=r"cut\.bin: not a valid pickle"):
        read_bin(tmp_path / "cut.bin")
    (tmp_path / "odd.bin").write_bytes(pickle.dumps((bins(3), [True])))
    with pytest.raises(ValueError, match=r"odd\.bin: 3 images for 1 pairs"):
        read_bin(tmp_path / "odd.bin")
    (tmp_path / "dict.bin").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match=r"dict\.bin: expected a pickled pair"):
        read_bin(tmp_path / "dict.bin")
    (tmp_path / "junk.bin").write_bytes(pickle.dumps(([b"garbage", b"junk"], [True])))
    with pytest.raises(ValueError, match=r"junk\.bin item 0: cannot decode"):
        load_bin_images(tmp_path / "junk.bin")
    with pytest.raises(FileNotFoundError, match=r"missing\.bin"):
        read_bin(tmp_path / "missing.bin")
    with pytest.raises(ValueError, match="2 per pair"):
        write_bin(tmp_path / "w.bin", bins(3), [True])
