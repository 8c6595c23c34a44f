"""Flaky, lying and missing downloads from a local HTTP server on 127.0.0.1: nothing broken ever gets the final
name, a rerun recovers, and the sha256 of what was accepted is recorded beside it."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import re
import sys
import tarfile
from pathlib import Path

import pytest

from .conftest import cli_capped, one_line_error, run_capped


def _archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:
        for i in range(4):
            data = bytes((i * 7 + j) % 251 for j in range(60000))
            info = tarfile.TarInfo(f"train/part{i}.rec")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


PAYLOAD = _archive()
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Server(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /a.tar misbehaving as `mode` says; records each request's Range header."""

    mode = "ok"
    seen: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        cls = type(self)
        cls.seen.append(self.headers.get("Range"))
        if self.path != "/a.tar" or cls.mode == "404":
            self.send_error(404)
            return
        if cls.mode == "500":
            self.send_error(500)
            return
        first = len(cls.seen) == 1
        ranged = self.headers.get("Range") and cls.mode not in ("no_range_drop",)
        start = int(self.headers["Range"].split("=")[1].split("-")[0]) if ranged else 0
        body = PAYLOAD[start:]
        if ranged and cls.mode == "corrupt_ranges":
            body = bytes(b ^ 0x5A for b in body)
        if ranged and cls.mode == "resume_wrong_offset":
            start += 1000
        self.send_response(206 if ranged else 200)
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        send_length = cls.mode not in ("drop_no_length", "no_range_drop", "truncated_no_length")
        if send_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = (cls.mode in ("drop_no_length", "drop_with_length") and first) or cls.mode == "no_range_drop" \
            or cls.mode == "truncated_no_length"
        self.wfile.write(body[: len(body) // 2] if cut else body)
        self.wfile.flush()
        if cut:
            self.connection.shutdown(2)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(http_server) -> str:
    Server.mode, Server.seen = "ok", []
    return http_server(Server) + "/a.tar"


_FETCH = """
import json, sys
from pathlib import Path
from x2softmax.data.archives import download
url, dest, options = json.load(sys.stdin)
try:
    download(url, Path(dest), backoff=0.0, chunk=8192, **options)
except (RuntimeError, ValueError) as err:
    print(json.dumps([type(err).__name__, str(err)]))
else:
    print(json.dumps(None))
"""


def _fetch(url: str, dest: Path, **options: object) -> tuple[list[str] | None, str]:
    """download() in a capped subprocess (the server stays in this one): ([error type, message] or None, stderr)."""
    options.setdefault("retries", 3)
    done = run_capped([sys.executable, "-c", _FETCH], timeout=120, stdin=json.dumps([url, str(dest), options]))
    assert done.returncode == 0 and done.stdout, done.stderr
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


def _accepted(dest: Path) -> None:
    assert dest.read_bytes() == PAYLOAD
    assert dest.with_name(dest.name + ".sha256").read_text() == f"{SHA}  {dest.name}\n"
    assert not dest.with_name(dest.name + ".part").exists()


RECOVERS = {
    # mode, what is already on disk (.part content or None), sha256 known?
    "connection dropped, Content-Length sent": ("drop_with_length", None, False),
    "connection dropped, no Content-Length": ("drop_no_length", None, False),
    "connection dropped, no Content-Length, sha256 known": ("drop_no_length", None, True),
    "garbage .part left by an earlier run": ("ok", b"\x00garbage" * 9000, False),
    "garbage .part, sha256 known": ("ok", b"\x00garbage" * 9000, True),
    "good .part, server corrupts ranges": ("corrupt_ranges", PAYLOAD[:100000], False),
    "good .part, server resumes at the wrong byte": ("resume_wrong_offset", PAYLOAD[:100000], False),
    ".part longer than the resource": ("ok", PAYLOAD + b"tail", False),
    "complete .part from a killed run": ("ok", PAYLOAD, False),
}


@pytest.mark.parametrize("case", sorted(RECOVERS))
def test_flaky_download_recovers_with_a_verified_file(server: str, tmp_path: Path, case: str) -> None:
    mode, part, with_sha = RECOVERS[case]
    Server.mode = mode
    dest = tmp_path / "a.tar"
    if part is not None:
        dest.with_name("a.tar.part").write_bytes(part)
    error, stderr = _fetch(server, dest, sha256=SHA if with_sha else None, retries=4)
    assert error is None, (error, stderr)
    _accepted(dest)


FAILS = {
    "HTTP 404": ("404", "RuntimeError", "HTTP 404", 1),
    "HTTP 500 every time": ("500", "RuntimeError", "after 3 attempts", 3),
    "always cut, no Content-Length, no ranges": ("no_range_drop", "RuntimeError", "after 3 attempts.*incomplete", 3),
    "sha256 mismatch": ("ok", "ValueError", "corrupt .sha256 is", 1),
}


@pytest.mark.parametrize("case", sorted(FAILS))
def test_failed_download_is_one_line_and_leaves_no_final_file(server: str, tmp_path: Path, case: str) -> None:
    mode, error, match, requests_made = FAILS[case]
    Server.mode = mode
    dest = tmp_path / "a.tar"
    raised, stderr = _fetch(server, dest, retries=2, sha256="0" * 64 if case == "sha256 mismatch" else None)
    assert raised and raised[0] == error and re.search(match, raised[1]), (raised, stderr)
    assert "\n" not in raised[1] and server in raised[1]
    assert not dest.exists() and not dest.with_name("a.tar.sha256").exists()
    assert len(Server.seen) == requests_made


def test_a_verified_download_is_reused_and_a_changed_one_fetched_again(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "a.tar"
    assert _fetch(server, dest)[0] is None and _fetch(server, dest)[0] is None
    assert len(Server.seen) == 1  # the recorded sha256 matched: no second request
    dest.write_bytes(PAYLOAD[:-1] + b"!")
    error, stderr = _fetch(server, dest)
    assert error is None and "changed since it was downloaded" in stderr, (error, stderr)
    _accepted(dest)


def _hostile_tar(path: Path) -> Path:
    with tarfile.open(path, "w") as tf:
        link = tarfile.TarInfo("ms1m/d")
        link.type, link.linkname = tarfile.SYMTYPE, "."
        tf.addfile(link)
        link = tarfile.TarInfo("ms1m/d/d/train.rec")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/hostname"
        tf.addfile(link)
    return path


FETCH = {
    # server mode (None: a local archive), what the one line says
    "URL that always drops, no Content-Length": ("no_range_drop", r"download failed after 6 attempts.*incomplete"),
    "URL answering 404": ("404", r"HTTP 404"),
    "URL serving a good archive with the wrong layout": ("ok", r"no train\.rec inside"),
    "local archive planting a link": (None, r"symbolic link .*refusing"),
    "local archive truncated": ("truncated", r"truncated"),
}


@pytest.mark.parametrize("case", sorted(FETCH))
def test_data_fetch_fails_in_one_line_and_installs_nothing(server: str, tmp_path: Path, case: str) -> None:
    mode, expected = FETCH[case]
    root = tmp_path / "data"
    if mode is None:
        source = str(_hostile_tar(tmp_path / "hostile.tar"))
    elif mode == "truncated":
        (tmp_path / "cut.tar").write_bytes(PAYLOAD[: len(PAYLOAD) // 2])
        source = str(tmp_path / "cut.tar")
    else:
        Server.mode, source = mode, server
    no_waits = "import time\ntime.sleep = lambda seconds: None"  # retries without the back-off waits
    code, err = cli_capped(["data", "fetch", "ms1mv3", "--root", str(root), "--source", source], setup=no_waits)
    line = one_line_error(err)
    assert code != 0 and re.search(expected, line), line
    assert not (root / "train").exists()
    assert not [p for p in root.rglob("*") if p.is_symlink() or p.name.startswith(".ms1mv3.")]  # nothing half-done
    if mode in ("no_range_drop", "404"):
        assert not (root / "downloads" / "a.tar").exists()
