"""Archive bombs, sparse members and installs over a good dataset: `x2softmax data fetch` must stop before the
disk fills, name the archive in one line, copy (never link) a source folder, refuse links in it, and leave an
installed dataset untouched unless the whole new copy checks out. Each case: a subprocess capped at 2 GiB."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from x2softmax.data.images import encode_image
from x2softmax.data.recordio import write_face_recordio

from .conftest import last_line, one_line_error, run_capped

SIZE = 16
ZEROS = 300 << 20  # beyond the 256 MiB any archive may expand to whatever its ratio


def _png(seed: int) -> bytes:
    return encode_image(np.random.default_rng(seed).integers(0, 255, (SIZE, SIZE, 3), np.uint8), ".png")


def _training(folder: Path) -> Path:
    return write_face_recordio(folder, [(i // 3, _png(i)) for i in range(9)], 3, SIZE)


def _fetch(root: Path, source: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    import sys

    root.mkdir(parents=True, exist_ok=True)
    (root / "MANIFEST.json").write_text("{}")  # a small root: no expected sizes of the real dataset
    done = run_capped([sys.executable, "-m", "x2softmax", "data", "fetch", "ms1mv3", "--root", str(root),
                       "--source", str(source)], timeout=120, env=env)
    return done.returncode, done.stderr


def _zip_zeros(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, \
            zf.open("ms1m/train.rec", "w", force_zip64=True) as fh:
        block = b"\0" * (1 << 20)
        for _ in range(ZEROS >> 20):
            fh.write(block)
    return path


def _tgz_zeros(path: Path) -> Path:
    class Zeros(io.RawIOBase):
        def __init__(self) -> None:
            self.left = ZEROS

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            n = min(len(buffer), self.left)
            buffer[:n] = b"\0" * n
            self.left -= n
            return n

    with tarfile.open(path, "w:gz", compresslevel=1) as tf:
        info = tarfile.TarInfo("ms1m/train.rec")
        info.size = ZEROS
        tf.addfile(info, io.BufferedReader(Zeros()))
    return path


def _sparse_tar(path: Path) -> Path:
    hole = path.parent / "holes" / "train.rec"
    hole.parent.mkdir()
    with open(hole, "wb") as fh:
        fh.truncate(1 << 40)  # 1 TiB of holes
    subprocess.run(["tar", "-cSf", str(path), "-C", str(hole.parent), "train.rec"], check=True, timeout=60)
    hole.unlink()
    return path


def _small_zip(path: Path, members: list[str]) -> Path:
    stage = _training(path.parent / "good")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for prefix in members:
            for name in ("train.rec", "train.idx", "property"):
                zf.write(stage / name, f"{prefix}/{name}")
    return path


BOMBS: dict[str, tuple[Callable[[Path], Path], dict[str, str], str]] = {
    "zip of 300 MB zeros": (lambda d: _zip_zeros(d / "a.zip"), {}, "archive bomb"),
    "tar.gz of 300 MB zeros": (lambda d: _tgz_zeros(d / "a.tar.gz"), {}, "archive bomb"),
    "tar with a sparse 1 TiB member": (lambda d: _sparse_tar(d / "a.tar"), {}, "sparse"),
    "archive over X2S_MAX_EXTRACT_BYTES": (lambda d: _small_zip(d / "a.zip", ["ms1m"]),
                                           {"X2S_MAX_EXTRACT_BYTES": "1000"}, "X2S_MAX_EXTRACT_BYTES 1000"),
    "archive over the ratio": (lambda d: _small_zip(d / "a.zip", ["ms1m"]),
                               {"X2S_MAX_EXTRACT_RATIO": "1", "X2S_EXTRACT_RATIO_FLOOR": "1"}, "archive bomb"),
    "zip with two train.rec": (lambda d: _small_zip(d / "a.zip", ["one", "two"]), {}, "2 train.rec files"),
}


@pytest.mark.parametrize("case", list(BOMBS))
def test_archive_bombs_stop_before_the_disk_fills(tmp_path: Path, case: str) -> None:
    build, env, expected = BOMBS[case]
    (tmp_path / "src").mkdir()
    archive = build(tmp_path / "src")
    root = tmp_path / "data"
    code, err = _fetch(root, archive, env)
    line = one_line_error(err)
    assert code != 0 and str(archive) in line or str(tmp_path) in line, line
    assert expected in line, line
    written = sum(p.stat().st_blocks * 512 for p in root.rglob("*") if p.is_file())
    assert written < 1 << 20, f"{written} bytes written under {root}"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _bad_copy(folder: Path, fault: str) -> None:
    _training(folder)
    if fault == "train.rec does not decode":
        rec = folder / "train.rec"
        rec.write_bytes(bytes(len(rec.read_bytes())))
    elif fault == "property missing":
        (folder / "property").unlink()
    elif fault == "index of another file":
        other = _training(folder.parent / "other")
        lines = (other / "train.idx").read_text().splitlines()
        (folder / "train.idx").write_text("\n".join(lines[:-1] + ["99\t3"]) + "\n")
    elif fault == "an image that does not decode":
        rec = bytearray((folder / "train.rec").read_bytes())
        at = rec.index(b"\x89PNG", 200)
        rec[at: at + 4] = b"JUNK"
        (folder / "train.rec").write_bytes(bytes(rec))


@pytest.mark.parametrize("fault", ["train.rec does not decode", "property missing", "index of another file",
                                   "an image that does not decode"])
@pytest.mark.parametrize("form", ["zip", "folder"])
def test_a_failed_fetch_leaves_the_installed_dataset_untouched(tmp_path: Path, fault: str, form: str) -> None:
    root = tmp_path / "data"
    good = _training(tmp_path / "good")
    code, err = _fetch(root, good)
    assert code == 0, err
    before = {p.name: _sha(p) for p in (root / "train").iterdir()}
    bad = tmp_path / "bad" / "ms1m"
    _bad_copy(bad, fault)
    source = bad
    if form == "zip":
        source = tmp_path / "bad.zip"
        with zipfile.ZipFile(source, "w") as zf:
            for path in bad.iterdir():
                zf.write(path, f"ms1m/{path.name}")
    code, err = _fetch(root, source)
    line = one_line_error(err)
    assert code != 0 and line == last_line(err), err
    named = f"{source}: member 'ms1m" if form == "zip" else str(bad)  # never the staging copy it was checked in
    assert named in line and ".ms1mv3." not in line, line
    assert {p.name: _sha(p) for p in (root / "train").iterdir()} == before
    assert not [p for p in root.iterdir() if p.name.startswith(".ms1mv3.")], "staging folder left behind"


@pytest.mark.parametrize("link", ["train.rec to a system file", "train.idx to a good file", "a linked folder"])
def test_links_in_a_source_folder_are_refused(tmp_path: Path, link: str) -> None:
    source = _training(tmp_path / "src")
    if link == "train.rec to a system file":
        (source / "train.rec").unlink()
        (source / "train.rec").symlink_to("/etc/passwd")
    elif link == "train.idx to a good file":
        shutil.move(source / "train.idx", tmp_path / "elsewhere.idx")
        (source / "train.idx").symlink_to(tmp_path / "elsewhere.idx")
    else:
        (source / "extra").symlink_to("/etc", target_is_directory=True)
    root = tmp_path / "data"
    code, err = _fetch(root, source)
    line = one_line_error(err)
    assert code != 0 and "symbolic link" in line and str(source) in line, line
    assert not (root / "train").exists()


def test_a_source_folder_is_copied_not_linked(tmp_path: Path) -> None:
    source = _training(tmp_path / "src")
    root = tmp_path / "data"
    code, err = _fetch(root, source)
    assert code == 0, err
    for name in ("train.rec", "train.idx", "property"):
        installed, original = root / "train" / name, source / name
        assert installed.stat().st_ino != original.stat().st_ino and installed.stat().st_nlink == 1
