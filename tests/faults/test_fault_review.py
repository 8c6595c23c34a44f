"""The reviewer's command reads params.yaml and dvc.lock through the bounded YAML reader: hostile files are one line
naming the file, in a capped subprocess (a regression that expanded an alias bomb would hit the 2 GiB cap)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.faults.conftest import run_capped

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi"))

CASES = {
    "alias_bomb": BOMB.encode(),
    "non_utf8": b"data_root: \xff\xfe\n",
    "not_a_mapping": b"- just\n- a list\n",
    "huge": b"# " + b"x" * (9 << 20) + b"\n",
}


def _review(root: Path) -> tuple[int, str]:
    code = ("from pathlib import Path; from x2softmax import review; "
            "review.review(Path('.'), [], {'data': {'root': 'data/smoke'}}, pull=True)")
    done = run_capped([sys.executable, "-c", code], cwd=root, timeout=60, env={"X2S_MAX_YAML_BYTES": str(1 << 20)})
    return done.returncode, done.stderr


@pytest.mark.parametrize("name", ["params.yaml", "dvc.lock"])
@pytest.mark.parametrize("case", sorted(CASES) + ["fifo"])
def test_hostile_review_yaml_is_one_line_naming_file(tmp_path: Path, name: str, case: str) -> None:
    """Alias bomb, FIFO, non-UTF-8, huge or non-mapping params.yaml / dvc.lock: one line naming the file."""
    if name == "dvc.lock":
        (tmp_path / "params.yaml").write_text("data_root: data/smoke\n", encoding="utf-8")
    target = tmp_path / name
    if case == "fifo":
        os.mkfifo(target)
    else:
        target.write_bytes(CASES[case])
    code, err = _review(tmp_path)
    assert code != 0
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("review: ")]
    assert len(lines) == 1 and name in lines[0], err


def test_a_failed_snakemake_call_keeps_its_own_last_line(tmp_path: Path) -> None:
    """`make review` runs Snakemake twice: when it fails, its own last line (e.g. the workflow naming a corrupt
    record) stays the last, with no traceback of the reviewer's command after it."""
    (tmp_path / "params.yaml").write_text("data_root: data/smoke\n", encoding="utf-8")
    (tmp_path / "results/train/x2softmax").mkdir(parents=True)
    (tmp_path / "results/train/x2softmax/summary.json").write_text("{}")
    fake = tmp_path / "bin" / "snakemake"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'x2softmax snakemake: the line that says what is wrong' >&2\nexit 3\n")
    fake.chmod(0o755)
    code = ("from pathlib import Path; from x2softmax import review; "
            "review.review(Path('.'), [], {'data': {'root': 'data/smoke'}}, pull=False)")
    done = run_capped([sys.executable, "-c", code], cwd=tmp_path, timeout=60,
                      env={"PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "x2softmax snakemake: the line that says what is wrong"
