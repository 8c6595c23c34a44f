"""Writing outputs under faults: disk full and read-only folders (small tmpfs mounts, where mounting is allowed),
temp files left by killed writers, concurrent writers. One line naming the file; the old output is never lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from x2softmax.data.images import encode_image
from x2softmax.io import atomic_write_text, remove_stale_temps

from .conftest import can_mount_tmpfs, cli_capped, one_line_error


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """mount(options) -> a fresh tmpfs folder mounted with those options; unmounted afterwards."""
    mounted: list[Path] = []
    if not can_mount_tmpfs(tmp_path / "probe"):
        pytest.skip("mounting a tmpfs is not allowed here (needs root in a container that permits mount)")

    def make(options: str) -> Path:
        where = tmp_path / f"mnt{len(mounted)}"
        where.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)
        mounted.append(where)
        return where

    yield make
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


def _identity_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for person in range(3):
        (root / f"p{person}").mkdir(parents=True)
        for i in range(6):
            image = rng.integers(0, 255, (64, 64, 3), np.uint8)
            (root / f"p{person}" / f"{i}.png").write_bytes(encode_image(image, ".png"))
    return root


WRITERS = {
    # command writing into OUT, the file it fails on (relative to OUT)
    "JSON output": (lambda out, src: ["report", "config", json.dumps({"pad": "x" * 200_000}), "--out",
                                      str(out / "config.json")], "config.json"),
    "RecordIO packing": (lambda out, src: ["data", "pack", str(src), "--out", str(out / "train"), "--size", "64"],
                         "train/train.rec"),
    "synthetic data root": (lambda out, src: ["data", "synth", "--out", str(out / "data")], "data"),
}


@pytest.mark.parametrize("fault", ["disk full", "read-only"])
@pytest.mark.parametrize("case", sorted(WRITERS))
def test_a_failed_write_is_one_line_naming_the_file_and_keeps_the_old_one(
    mount, tmp_path: Path, case: str, fault: str,
) -> None:
    src = _identity_folder(tmp_path / "faces")
    out = mount("size=48k" if fault == "disk full" else "size=1m")
    command, target = WRITERS[case]
    if fault == "read-only":
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
    code, err = cli_capped(command(out, src), timeout=120)
    line = one_line_error(err)
    reason = "No space left on device" if fault == "disk full" else "Read-only file system"
    assert code != 0 and reason in line and str(out / target.split("/")[0]) in line, line
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # no temp file left behind


def test_disk_full_keeps_the_previous_output(mount) -> None:
    out = mount("size=48k")
    target = out / "config.json"
    atomic_write_text(target, "previous\n")
    code, err = cli_capped(["report", "config", json.dumps({"pad": "x" * 200_000}), "--out", str(target)], timeout=120)
    assert code != 0 and f"cannot write {target}: No space left on device" in one_line_error(err)
    assert target.read_text() == "previous\n"


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "30"])


def test_stale_temp_files_are_removed_and_live_writers_kept(tmp_path: Path) -> None:
    target = tmp_path / "metrics.csv"
    host = os.uname().nodename.replace(".", "_").replace("~", "_")
    live = _sleeper()
    dead = _sleeper()
    dead.send_signal(signal.SIGKILL)
    dead.wait()
    files = {
        "dead writer": tmp_path / f".metrics.csv.{host}~{dead.pid}.abc123.tmp",
        "live writer": tmp_path / f".metrics.csv.{host}~{live.pid}.def456.tmp",
        "other host, old": tmp_path / ".metrics.csv.otherhost~1.x.tmp",
        "other host, recent": tmp_path / ".metrics.csv.otherhost~2.y.tmp",
        "older naming, old": tmp_path / ".metrics.csv.k2j3h4.tmp",
        "another file's temp": tmp_path / ".summary.json.otherhost~3.z.tmp",
    }
    for path in files.values():
        path.write_text("partial")
    day_ago = time.time() - 2 * 24 * 3600
    for key in ("other host, old", "older naming, old", "another file's temp"):
        os.utime(files[key], (day_ago, day_ago))
    try:
        atomic_write_text(target, "a,b\n")
        left = {key for key, path in files.items() if path.exists()}
        assert left == {"live writer", "other host, recent", "another file's temp"}
        assert target.read_text() == "a,b\n"
    finally:
        live.kill()
        live.wait()
    assert remove_stale_temps(target) == [files["live writer"]]


def test_concurrent_writers_never_leave_a_torn_file(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    script = ("import sys; from x2softmax.io import atomic_write_json\n"
              "for i in range(200): atomic_write_json(sys.argv[1], {'writer': sys.argv[2], 'pad': 'x' * 20000})\n")
    writers = [subprocess.Popen([sys.executable, "-c", script, str(target), str(n)]) for n in range(3)]
    seen = set()
    while any(w.poll() is None for w in writers):
        if target.exists():
            seen.add(json.loads(target.read_text())["writer"])  # always whole JSON, never a torn write
    assert all(w.returncode == 0 for w in writers)
    assert json.loads(target.read_text())["writer"] in {"0", "1", "2"} and seen
    assert not list(tmp_path.glob(".*.tmp"))
