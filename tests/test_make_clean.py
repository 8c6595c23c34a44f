"""`make clean` removes what a run wrote and leaves every tracked file as committed (the pages included)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True, timeout=120).stdout


def test_make_clean_keeps_tracked_files(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], tmp_path)
    shutil.copy(ROOT / "Makefile", clone / "Makefile")  # the Makefile under test, committed or not
    for path in ("results/train/x/backbone.pt", "logs/train/x.log", ".snakemake/log/a.log", "reports/report.html"):
        (clone / path).parent.mkdir(parents=True, exist_ok=True)
        (clone / path).write_text("written by a run")
    (clone / "reports/index.html").write_text("a regenerated page")
    (clone / "reports/tables/claims.csv").unlink()
    _run(["make", "clean"], clone)
    for path in ("results", "logs", ".snakemake", "reports/report.html"):
        assert not (clone / path).exists(), path
    assert _run(["git", "status", "--porcelain", "--", "reports"], clone) == ""  # every committed page is back
