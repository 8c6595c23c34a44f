"""Atomic file writes, content hashing and the JSON-object reader shared by every stage."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Temp files are named .{target}.{host}~{pid}.{random}.tmp so that a later write can tell a dead writer's leftovers.
_STALE_FOREIGN_S = 24 * 3600  # leftovers of another host (or of an older naming) count as stale after a day


def _writer_tag() -> str:
    return f"{socket.gethostname().replace('.', '_').replace('~', '_')}~{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_stale(tmp: Path, target_name: str, host: str) -> bool:
    """Whether a temp file beside a target was left by a writer that is gone (killed mid-write)."""
    writer = tmp.name[len(target_name) + 2:].split(".", 1)[0]
    tmp_host, _, pid = writer.rpartition("~")
    if tmp_host == host and pid.isdigit():
        return int(pid) != os.getpid() and not _alive(int(pid))
    try:
        return time.time() - tmp.stat().st_mtime > _STALE_FOREIGN_S
    except FileNotFoundError:
        return False


def remove_stale_temps(target: str | os.PathLike[str]) -> list[Path]:
    """Delete the .{name}.*.tmp files beside `target` whose writer is dead (killed mid-write); returns them."""
    target = Path(target)
    host = _writer_tag().rpartition("~")[0]
    prefix, suffix = f".{target.name}.", ".tmp"  # the names glob's .{name}.*.tmp matches, without its regex per call
    try:
        with os.scandir(target.parent) as entries:
            names = [e.name for e in entries if len(e.name) >= len(prefix) + len(suffix)
                     and e.name.startswith(prefix) and e.name.endswith(suffix)]
    except FileNotFoundError:
        return []
    removed = []
    for tmp in (target.parent / name for name in names):
        if _is_stale(tmp, target.name, host):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def temp_beside(target: Path) -> Path:
    """Create an empty temp file .{name}.{host}~{pid}.XXXX.tmp beside `target`, after removing dead writers' ones."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(target)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{_writer_tag()}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise naming(err, target) from None
    os.close(fd)
    return Path(tmp)


def give_default_mode(path: str | os.PathLike[str]) -> None:
    """Give a file the permissions a plain open() would (0666 less the umask); mkstemp creates files 0600."""
    os.chmod(path, 0o666 & ~_umask())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    Stale temp files of killed earlier writes to the same target are removed first; an OSError (disk full,
    read-only folder) is re-raised naming the target.
    """
    target = Path(path)
    tmp_path = temp_beside(target)
    try:
        yield tmp_path
        give_default_mode(tmp_path)
        os.replace(tmp_path, target)
    except OSError as err:
        raise naming(err, target) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def naming(err: OSError, target: Path) -> OSError:
    """The OSError with a message that names the file being written (ENOSPC and EROFS name none themselves).

    Only errors of the write itself are renamed: those naming no file, the target's temp file or a folder above the
    target. An error about another file (an input read inside the write block) keeps its own message.
    """
    if err.filename is not None:
        if str(target) in str(err.filename):
            return err
        name = Path(os.fsdecode(err.filename))
        own_temp = name.parent == target.parent and name.name.startswith(f".{target.name}.")
        if not own_temp and name not in target.parents:
            return err
    message = f"cannot write {target}: {err.strerror or err or type(err).__name__}"
    return OSError(err.errno, message) if err.errno else OSError(message)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write bytes to `path` atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write text (UTF-8) to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write `obj` as indented JSON to `path` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON object; a clear error naming the file when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (it should have been produced by the workflow)")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start}), so not JSON") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj
