"""Downloads that are verified before they get their final name, and archive checks and safe extraction."""

from __future__ import annotations

import errno
import gzip
import itertools
import lzma
import os
import shutil
import sys
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import TypeVar

import requests
from tqdm import tqdm

from x2softmax.io import atomic_write_text, file_sha256
from x2softmax.limits import limit

_NOT_RETRIED = {400, 401, 403, 404, 410}
_T = TypeVar("_T")


# ---------------------------------------------------------------------------------------------------- downloads


class _IncompleteDownload(Exception):
    pass


_OVERLAP = 1 << 16  # bytes re-fetched before the resume point and compared with the .part file


def _content_total(response: requests.Response, start: int) -> int | None:
    """Size of the whole resource from Content-Range (206) or Content-Length (200); None when not sent."""
    total = response.headers.get("Content-Range", "").rpartition("/")[2]
    if total.isdigit():
        return int(total)
    length = response.headers.get("Content-Length")
    return start + int(length) if length is not None and length.isdigit() else None


def _check_overlap(blocks: Iterator[bytes], part: Path, start: int, overlap: int) -> bytes:
    """Consume the first `overlap` bytes of a resumed response; discard `part` if they differ from its bytes there.

    Returns what the response sent beyond the overlap.
    """
    received = bytearray()
    for block in blocks:
        received += block
        if len(received) >= overlap:
            break
    with open(part, "rb") as fh:
        fh.seek(start)
        expected = fh.read(overlap)
    if bytes(received[:overlap]) != expected:
        part.unlink()
        raise _IncompleteDownload(
            f"{part} differs from what the server sends for bytes {start}-{start + overlap - 1}; discarded it"
        )
    return bytes(received[overlap:])


def _stream_to_part(url: str, part: Path, chunk: int) -> int | None:
    """Download (or resume) into `part`; returns the resource size when the server tells it."""
    have = part.stat().st_size if part.exists() else 0
    overlap = min(have, _OVERLAP)
    headers = {"Range": f"bytes={have - overlap}-"} if have else {}
    with requests.get(url, headers=headers, stream=True, timeout=(15, 60)) as response:
        if response.status_code == 416 and have:
            total = response.headers.get("Content-Range", "").rpartition("/")[2]
            if total == str(have):
                return have  # the part file already holds the whole resource
            part.unlink()
            raise _IncompleteDownload(f"stale partial file of {have} bytes (resource: {total or 'unknown'} bytes)")
        if response.status_code in _NOT_RETRIED:
            raise requests.HTTPError(f"{url}: HTTP {response.status_code} {response.reason}", response=response)
        response.raise_for_status()
        blocks = response.iter_content(chunk_size=chunk)
        head = b""
        if response.status_code == 206:
            start = int(response.headers.get("Content-Range", "bytes 0-").split()[1].split("-")[0])
            if start != have - overlap:
                part.unlink()
                raise _IncompleteDownload(f"server resumed at byte {start}, not {have - overlap}; discarded {part}")
            total = _content_total(response, start)
            head = _check_overlap(blocks, part, start, overlap)
            mode = "ab"
        else:
            have, mode = 0, "wb"  # no range support: start over
            total = _content_total(response, 0)
        with open(part, mode) as fh, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=part.name[:-5], file=sys.stderr, mininterval=1.0
        ) as progress:
            for block in itertools.chain([head] if head else [], blocks):
                fh.write(block)
                progress.update(len(block))
    size = part.stat().st_size
    if total is not None and size < total:
        raise _IncompleteDownload(f"{size} of {total} bytes received")
    if total is not None and size > total:
        part.unlink()
        raise _IncompleteDownload(f"{size} bytes received for a resource of {total} bytes; discarded the partial file")
    return total


def integrity_problem(path: Path, sha256: str | None) -> str | None:
    """Why a downloaded file is not acceptable: a checksum mismatch, or (without a checksum) a structural fault."""
    if sha256 is not None:
        actual = file_sha256(path)
        return None if actual == sha256.lower() else f"sha256 is {actual}, expected {sha256.lower()}"
    try:
        verify_archive(path)
    except ValueError as err:
        return str(err)
    return None


def _sidecar(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")


def _recorded_sha256(dest: Path) -> str | None:
    sidecar = _sidecar(dest)
    return sidecar.read_text(encoding="ascii").split()[0] if sidecar.is_file() else None


def download(
    url: str, dest: Path, sha256: str | None = None, retries: int = 5, backoff: float = 1.0, chunk: int = 1 << 20
) -> Path:
    """HTTP(S) download resuming `dest.part` (overlap-checked Range requests), retried with back-off, verified
    (sha256 if given, else a full read of the archive) before it is renamed to `dest`; its sha256 goes to
    `dest.sha256`. A `dest` already verified by an earlier run (same recorded sha256) is reused."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    recorded = _recorded_sha256(dest) if dest.is_file() else None
    if recorded is not None:
        actual = file_sha256(dest)
        if actual == recorded and (sha256 is None or actual == sha256.lower()):
            return dest
        print(f"x2softmax: warning: {dest} changed since it was downloaded (sha256 {actual}); downloading again",
              file=sys.stderr)
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            total = _stream_to_part(url, part, chunk)
            problem = integrity_problem(part, sha256)
            if problem is None:
                break
            if total is not None:  # complete, yet wrong: resuming cannot fix it
                part.unlink()
                raise ValueError(f"{url}: downloaded {dest.name} is corrupt ({problem}); deleted it")
            raise _IncompleteDownload(f"{dest.name} is incomplete or corrupt ({problem})")
        except requests.HTTPError as err:
            status = err.response.status_code if err.response is not None else None
            if status in _NOT_RETRIED:
                raise RuntimeError(f"{url}: download failed: {err}") from None
            if attempt == retries:
                raise RuntimeError(f"{url}: download failed after {retries + 1} attempts: {err}") from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                _IncompleteDownload) as err:
            if attempt == retries:
                kept = f"; {part} kept for resuming" if part.exists() else ""
                raise RuntimeError(f"{url}: download failed after {retries + 1} attempts: {err}{kept}") from None
        time.sleep(backoff * 2**attempt)
    return install_verified(part, dest, sha256)


def install_verified(part: Path, dest: Path, sha256: str | None = None) -> Path:
    """Record the sha256 of a verified download beside it (dest.sha256, sha256sum format), then give it its name.

    `sha256`: the digest `part` was already verified against (not hashed again); None hashes `part`."""
    digest = sha256.lower() if sha256 is not None else file_sha256(part)
    atomic_write_text(_sidecar(dest), f"{digest}  {dest.name}\n")
    os.replace(part, dest)
    return dest


# --------------------------------------------------------------------------------------------------- extraction

_ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile)


class _Budget:
    """Members' declared sizes summed as they are met, refused past X2S_MAX_EXTRACT_BYTES or past
    X2S_MAX_EXTRACT_RATIO x the archive's size (beyond X2S_EXTRACT_RATIO_FLOOR): a bomb stops before its data
    is read or written."""

    def __init__(self, archive: Path) -> None:
        self.archive, self.total = archive, 0
        by_ratio = max(limit("X2S_EXTRACT_RATIO_FLOOR"), limit("X2S_MAX_EXTRACT_RATIO") * archive.stat().st_size)
        self.most = min(limit("X2S_MAX_EXTRACT_BYTES"), by_ratio)

    def add(self, name: str, size: int) -> None:
        """Count one member of `size` bytes; ValueError naming the archive once the bound is passed."""
        self.total += max(size, 0)
        if self.total > self.most:
            raise ValueError(
                f"{self.archive}: members up to {name!r} expand to {self.total} bytes, more than {self.most} "
                f"(X2S_MAX_EXTRACT_BYTES {limit('X2S_MAX_EXTRACT_BYTES')}, X2S_MAX_EXTRACT_RATIO "
                f"{limit('X2S_MAX_EXTRACT_RATIO')} x {self.archive.stat().st_size} bytes); an archive bomb? "
                "Raise the limits if the archive is genuine")


def _zip_budget(zf: zipfile.ZipFile, archive: Path) -> int:
    budget = _Budget(archive)
    for info in zf.infolist():
        budget.add(info.filename, info.file_size)
    return budget.total


def _tar_budget(tf: tarfile.TarFile, archive: Path) -> int:
    """Walk the tar's headers (bounded: the walk stops at the budget) and refuse sparse members."""
    budget = _Budget(archive)
    for member in tf:
        if member.issparse():
            raise ValueError(f"{archive}: member {member.name!r} is a sparse file; dataset archives need none, "
                             "refusing it")
        budget.add(member.name, member.size)
    return budget.total


def _verify_zip(archive: Path) -> str:
    with zipfile.ZipFile(archive) as zf:
        _zip_budget(zf, archive)
        bad = zf.testzip()  # reads every member and checks its CRC
        if bad is not None:
            raise ValueError(f"{archive}: member {bad!r} fails its CRC check (corrupt archive)")
        return f"zip, {len(zf.infolist())} members"


def _verify_tar(archive: Path) -> str:
    count = 0
    with tarfile.open(archive) as tf:
        _tar_budget(tf, archive)
    with tarfile.open(archive) as tf:
        for member in tf:
            count += 1
            if member.isfile():
                data = tf.extractfile(member)
                while data is not None and data.read(1 << 20):
                    pass
        tf.fileobj.seek(tf.offset)
        trailer = tf.fileobj.read(2 * tarfile.BLOCKSIZE)
        while tf.fileobj.read(1 << 20):  # a compressed stream checks its own trailer at its end
            pass
    if len(trailer) < 2 * tarfile.BLOCKSIZE or trailer.strip(b"\0"):
        raise ValueError(f"{archive}: tar archive ends after {count} members without its end-of-archive blocks "
                         "(truncated)")
    return f"tar, {count} members"


def _by_format(archive: Path, on_zip: Callable[[], _T], on_tar: Callable[[], _T]) -> _T:
    """on_zip() or on_tar() as the archive is a zip or a tar; a truncated, corrupt or unknown one is a ValueError."""
    try:
        if zipfile.is_zipfile(archive):
            return on_zip()
        if tarfile.is_tarfile(archive):
            return on_tar()
    except _ARCHIVE_ERRORS as err:
        raise ValueError(f"{archive}: truncated or corrupt archive ({type(err).__name__}: {err})") from None
    raise ValueError(f"{archive}: not a zip or tar archive (truncated or not an archive)")


def verify_archive(archive: Path) -> str:
    """Read a zip (every CRC) or tar (to its end-of-archive blocks) completely; ValueError naming the fault."""
    archive = Path(archive)
    return _by_format(archive, lambda: _verify_zip(archive), lambda: _verify_tar(archive))


def _safe_member(name: str, archive: Path) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ValueError(f"{archive}: member {name!r} would escape the destination; refusing to extract")
    return path


class _Layout:
    """Where each member of an archive lands: a member that would overwrite another (the same name twice, a file
    and a folder of the same name) or that names no file (empty, `.`) is refused before anything is written; the
    destination folder itself as a folder member (`.`, as `tar -C DIR -cf A.tar .` writes it) is allowed."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.files: dict[tuple[str, ...], str] = {}
        self.folders: dict[tuple[str, ...], str] = {}

    def _refuse(self, name: str, why: str) -> None:
        raise ValueError(f"{self.archive}: member {name!r} {why}; refusing to extract an ambiguous archive")

    def add(self, name: str, is_dir: bool) -> None:
        """Place one member; ValueError naming the archive and the member when it clashes with an earlier one."""
        parts = _safe_member(name, self.archive).parts
        if not parts and not is_dir:
            self._refuse(name, "names no file (an empty name or '.')")
        for depth in range(1, len(parts)):
            if parts[:depth] in self.files:
                self._refuse(name, f"needs a folder {'/'.join(parts[:depth])!r}, but member "
                                   f"{self.files[parts[:depth]]!r} is a file of that name")
            self.folders.setdefault(parts[:depth], name)
        if parts in self.files:
            earlier = self.files[parts]
            self._refuse(name, "appears twice (which copy is meant?)" if earlier == name
                         else f"lands where member {earlier!r} does (which one is meant?)")
        if is_dir:
            self.folders.setdefault(parts, name)
        elif parts in self.folders:
            self._refuse(name, f"is a file, and member {self.folders[parts]!r} makes it a folder")
        else:
            self.files[parts] = name


def _check_tar_member(member: tarfile.TarInfo, archive: Path) -> None:
    """Dataset archives hold regular files and folders only: links (symbolic or hard) and devices are refused."""
    if member.issym() or member.islnk():
        kind = "symbolic" if member.issym() else "hard"
        raise ValueError(f"{archive}: member {member.name!r} is a {kind} link to {member.linkname!r}; dataset archives "
                         "need no links, refusing to extract")
    if not (member.isfile() or member.isdir()):
        raise ValueError(f"{archive}: member {member.name!r} is a special file; refusing to extract")


def extract_archive(archive: Path, dest: Path) -> list[Path]:
    """Extract a zip or tar archive into dest after refusing links, special files and members that would escape it;
    returns the files. A truncated or corrupt archive is a ValueError naming it."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    return _by_format(archive, lambda: _extract_zip(archive, dest), lambda: _extract_tar(archive, dest))


def _check_space(archive: Path, dest: Path, total: int) -> None:
    """Refuse to start an extraction the disk cannot hold (so it never ends in a full disk)."""
    free = shutil.disk_usage(dest).free
    if total > free:
        raise ValueError(f"{archive}: expands to {total} bytes but {dest} has {free} bytes free; free space first")


def _extracting(archive: Path, dest: Path, extract: Callable[[], None]) -> None:
    """Run `extract`; a full disk, or any other failure to write a member, is a ValueError naming the archive (and
    the member), never only the path of the member in `dest` (a staging folder the user never named)."""
    try:
        extract()
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ValueError(f"{archive}: no space left in {dest} while extracting; free space first") from None
        where = Path(os.path.abspath(err.filename)) if err.filename else None
        dest_abs = Path(os.path.abspath(dest))
        member = (f"member {where.relative_to(dest_abs).as_posix()!r}"
                  if where is not None and where.is_relative_to(dest_abs) else "a member")
        raise ValueError(f"{archive}: cannot extract {member} into {dest} ({err.strerror or err})") from None


def _extract_zip(archive: Path, dest: Path) -> list[Path]:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        layout = _Layout(archive)
        for info in infos:
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise ValueError(f"{archive}: member {info.filename!r} is a symlink; refusing to extract")
            layout.add(info.filename, info.is_dir())
        _check_space(archive, dest, _zip_budget(zf, archive))
        _extracting(archive, dest, lambda: zf.extractall(dest))  # zipfile stops each member at its declared size
        return [dest / info.filename for info in infos if not info.is_dir()]


def _extract_tar(archive: Path, dest: Path) -> list[Path]:
    with tarfile.open(archive) as tf:
        total = _tar_budget(tf, archive)
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        layout = _Layout(archive)
        for member in members:
            _check_tar_member(member, archive)
            layout.add(member.name, member.isdir())
        _check_space(archive, dest, total)
        _extracting(archive, dest, lambda: tf.extractall(dest, filter="data"))
        return [dest / m.name for m in members if not m.isdir()]


def gdrive_download(file_id: str, dest: Path, sha256: str | None) -> Path:
    """Google Drive download (gdown) into dest.part, verified like download(), then renamed to `dest`."""
    try:
        import gdown
    except ImportError:
        raise ImportError("Google Drive downloads need gdown: pip install 'x2softmax[gdrive]'") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    out = gdown.download(id=file_id, output=str(part), quiet=False, resume=True)
    if out is None or not part.exists():
        raise RuntimeError(f"Google Drive file {file_id}: download failed (quota or permission); fetch it manually")
    problem = integrity_problem(part, sha256)
    if problem is not None:
        part.unlink()
        raise ValueError(f"Google Drive file {file_id}: downloaded {dest.name} is corrupt ({problem}); deleted it")
    return install_verified(part, dest, sha256)
