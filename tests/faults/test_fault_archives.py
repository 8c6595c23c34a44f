"""Hostile and broken archives: links of every kind (chains, links to links, hard links), escaping paths, special
files, truncation and corruption. Each is refused with one line naming the archive, and nothing lands outside."""

from __future__ import annotations

import io
import re
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from x2softmax.data.archives import extract_archive, verify_archive

from .conftest import python_capped


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, size
    return info


def _file(tf: tarfile.TarFile, name: str, data: bytes = b"face") -> None:
    tf.addfile(_info(name, size=len(data)), io.BytesIO(data))


def _sym(tf: tarfile.TarFile, name: str, target: str) -> None:
    tf.addfile(_info(name, tarfile.SYMTYPE, target))


def _hard(tf: tarfile.TarFile, name: str, target: str) -> None:
    tf.addfile(_info(name, tarfile.LNKTYPE, target))


HOSTILE_TARS: dict[str, Callable[[tarfile.TarFile], None]] = {
    "symlink chain d->. then d/d/../..": lambda tf: (_sym(tf, "d", "."), _sym(tf, "d/d/x", "../../../etc/hostname")),
    "symlink chain through a link folder": lambda tf: (_sym(tf, "a", "."), _sym(tf, "a/a/a/b", "../../../../etc")),
    "link to a link to outside": lambda tf: (_sym(tf, "l1", "l2"), _sym(tf, "l2", "/etc/hostname")),
    "link to a link inside": lambda tf: (_file(tf, "f"), _sym(tf, "l1", "f"), _sym(tf, "l2", "l1")),
    "absolute symlink": lambda tf: _sym(tf, "ok/link", "/etc/passwd"),
    "relative symlink escaping": lambda tf: _sym(tf, "ok/link", "../../outside"),
    "symlink then a file written through it": lambda tf: (_sym(tf, "dir", "/tmp"), _file(tf, "dir/planted")),
    "hard link to an absolute path": lambda tf: _hard(tf, "h", "/etc/hostname"),
    "hard link escaping": lambda tf: _hard(tf, "h", "../../etc/hostname"),
    "hard link to a member": lambda tf: (_file(tf, "f"), _hard(tf, "h", "f")),
    "hard link to a symlink": lambda tf: (_sym(tf, "s", "/etc/hostname"), _hard(tf, "h", "s")),
    "fifo": lambda tf: tf.addfile(_info("pipe", tarfile.FIFOTYPE)),
    "character device": lambda tf: tf.addfile(_info("null", tarfile.CHRTYPE)),
    "member with ..": lambda tf: _file(tf, "../evil.txt"),
    "absolute member": lambda tf: _file(tf, "/tmp/x2s-evil.txt"),
    "windows drive member": lambda tf: _file(tf, "C:/evil.txt"),
}


def _refusal(function: str, *paths: Path) -> str:
    """`function(*paths)` of x2softmax.data.archives in a capped subprocess: the message of the ValueError it raised."""
    call = f"{function}({', '.join(f'Path({str(path)!r})' for path in paths)})"
    done = python_capped("from pathlib import Path\n"
                         "from x2softmax.data.archives import extract_archive, verify_archive\n"
                         f"try:\n    {call}\nexcept ValueError as err:\n    print(err)\nelse:\n    print('no error')",
                         timeout=60)
    assert done.returncode == 0 and done.stdout.strip() != "no error", done.stdout + done.stderr
    return done.stdout.removesuffix("\n")


def _write_tar(path: Path, build: Callable[[tarfile.TarFile], None], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tf:
        _file(tf, "fine/a.jpg")
        build(tf)
    return path


@pytest.mark.parametrize("case", sorted(HOSTILE_TARS))
def test_hostile_tar_is_refused_and_nothing_is_extracted(tmp_path: Path, case: str) -> None:
    archive = _write_tar(tmp_path / "hostile.tar", HOSTILE_TARS[case])
    dest = tmp_path / "box" / "out"
    message = _refusal("extract_archive", archive, dest)
    assert str(archive) in message and "refus" in message and "\n" not in message
    assert list(dest.iterdir()) == []  # refused before anything is written
    assert sorted(p.name for p in (tmp_path / "box").iterdir()) == ["out"]
    assert not Path("/tmp/x2s-evil.txt").exists() and not Path("/tmp/planted").exists()


def _zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return path


def _zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o120777 << 16)
    return info, target.encode()


HOSTILE_ZIPS = {
    "zip symlink": [("a.jpg", b"x"), _zip_symlink("link", "/etc/hostname")],
    "zip symlink chain": [_zip_symlink("d", "."), _zip_symlink("d/d/x", "../../../etc/hostname")],
    "zip member with ..": [("a.jpg", b"x"), ("../evil.txt", b"x")],
    "zip absolute member": [("/tmp/x2s-evil.txt", b"x")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE_ZIPS))
def test_hostile_zip_is_refused(tmp_path: Path, case: str) -> None:
    archive = _zip(tmp_path / "hostile.zip", HOSTILE_ZIPS[case])
    message = _refusal("extract_archive", archive, tmp_path / "out")
    assert "refus" in message and str(archive) in message, message
    assert list((tmp_path / "out").iterdir()) == []


def _truncate(path: Path, keep: float | int) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: keep if isinstance(keep, int) else int(len(data) * keep)])
    return path


def _big_tar(path: Path, mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tf:
        for i in range(3):
            _file(tf, f"train/{i}.rec", bytes([i]) * 20000)
    return path


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _flip_zip_byte(path: Path) -> Path:
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF  # inside the first member's data
    path.write_bytes(bytes(data))
    return path


def _zip_members(path: Path) -> Path:
    return _zip(path, [("train/train.rec", bytes(range(256)) * 100), ("train/train.idx", b"0\t0\n")])


BROKEN = {
    "tar truncated mid-member": lambda p: _truncate(_big_tar(p.with_suffix(".tar")), 0.5),
    "tar truncated at a member boundary": lambda p: _truncate(_big_tar(p.with_suffix(".tar")), 512 + 20480),
    "tar.gz truncated": lambda p: _truncate(_big_tar(p.with_suffix(".tar.gz"), "w:gz"), 0.6),
    "tar.gz with a corrupt stream": lambda p: _flip_zip_byte(_big_tar(p.with_suffix(".tar.gz"), "w:gz")),
    "zip truncated": lambda p: _truncate(_zip_members(p.with_suffix(".zip")), 0.7),
    "zip with a flipped data byte": lambda p: _flip_zip_byte(_zip_members(p.with_suffix(".zip"))),
    "empty file": lambda p: _truncate(_zip_members(p.with_suffix(".zip")), 0),
    "html error page": lambda p: _text(p.with_suffix(".zip"), "<html>quota exceeded</html>"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_archive_fails_verification_in_one_line(tmp_path: Path, case: str) -> None:
    archive = BROKEN[case](tmp_path / "archive")
    message = _refusal("verify_archive", archive)
    assert message.startswith(str(archive)) and "\n" not in message
    assert any(word in message for word in ("truncated", "corrupt", "CRC", "not a zip or tar"))
    if case != "tar truncated at a member boundary":  # extraction alone cannot see a clean cut between members
        message = _refusal("extract_archive", archive, tmp_path / "out")
        assert re.search("truncated|corrupt|CRC|not a zip or tar", message), message


def test_a_good_archive_verifies_and_extracts(tmp_path: Path) -> None:
    for archive in (_big_tar(tmp_path / "a.tar"), _big_tar(tmp_path / "a.tar.gz", "w:gz"),
                    _zip_members(tmp_path / "a.zip")):
        assert "members" in verify_archive(archive)
        assert extract_archive(archive, tmp_path / archive.name.replace(".", "_"))
