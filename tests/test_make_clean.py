"""`make clean` removes what a run wrote that git does not track and leaves every tracked file as it finds it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from wfutil import readme_command

ROOT = Path(__file__).resolve().parents[1]
RUN_OUTPUTS = ("results/train/x/backbone.pt", "logs/train/x.log", ".snakemake/log/a.log", "reports/report.html")


def _run(args: list[str], cwd: Path) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True, timeout=120).stdout


def test_make_clean_removes_run_outputs_and_leaves_tracked_files_alone(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], tmp_path)
    shutil.copy(ROOT / "Makefile", clone / "Makefile")  # the Makefile under test, committed or not
    for path in RUN_OUTPUTS:
        (clone / path).parent.mkdir(parents=True, exist_ok=True)
        (clone / path).write_text("written by a run")
    (clone / "reports/index.html").write_text("a regenerated page")  # a tracked page a run rewrote
    (clone / "reports/tables/claims.csv").unlink()  # a tracked page gone
    tracked_before = _run(["git", "status", "--porcelain", "--untracked-files=no"], clone)
    _run(readme_command("make clean"), clone)  # as README.md writes it
    for path in ("results", "logs", ".snakemake", "reports/report.html"):
        assert not (clone / path).exists(), path
    assert _run(["git", "status", "--porcelain", "--untracked-files=no"], clone) == tracked_before
    assert (clone / "reports/index.html").read_text() == "a regenerated page"
    assert not (clone / "reports/tables/claims.csv").exists()
