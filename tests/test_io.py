"""Atomic writes and hashing."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from x2softmax.io import atomic_path, atomic_write_json, atomic_write_text, file_sha256


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("killed")
    assert target.read_text().strip().startswith("{") and '"a": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_an_error_about_another_file_keeps_its_own_name(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    missing = tmp_path / "input.bin"
    with pytest.raises(FileNotFoundError) as caught, atomic_path(target):
        missing.read_bytes()  # an input read inside the write block
    assert str(missing) in str(caught.value) and "cannot write" not in str(caught.value)
    assert not target.exists()


def test_an_error_of_the_write_itself_names_the_target(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(OSError, match=f"cannot write {target}: No space left on device"), atomic_path(target) as tmp:
        raise OSError(28, "No space left on device", str(tmp))  # ENOSPC reported on the temp file
    with pytest.raises(OSError, match=f"cannot write {target}: Read-only file system"), atomic_path(target):
        raise OSError(30, "Read-only file system")  # EROFS naming no file


def test_written_files_get_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    atomic_write_text(target, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    (tmp_path / "b").write_bytes(data)
    assert file_sha256(tmp_path / "b", chunk=1 << 16) == hashlib.sha256(data).hexdigest()
