"""Snakemake's known failures in one line saying what to do, instead of a traceback: a corrupt .snakemake/metadata
record, an unwritable output folder, a lock left by another or a killed run.

`make replicate`'s Snakemake call runs through `run` (its output passes through live; an unknown failure keeps
Snakemake's own output); the workflow itself (workflow/rules/common.smk) checks the records (`corrupt_record`) and
the output folders of the jobs to run (`unwritable_output`) before Snakemake meets them, and ends Snakemake's refusal
of an existing write-protected output in `explain`'s line, so that a direct `snakemake` call ends in the same line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

_METADATA = re.compile(r"(\.snakemake/(?:metadata|incomplete)/\S+?)['\"]?(?:\s|$)")
_PERMISSION = re.compile(r"(?:PermissionError|OSError): \[Errno (?:13|30)\] [^:]*: '([^']+)'")
_PROTECTED = re.compile(r"Write-protected output files.*?affected files:\s*(\S+)", re.S)
RECORD_FOLDERS = (".snakemake/metadata", ".snakemake/incomplete")  # Snakemake's JSON records of a project


def corrupt_record_advice(record: str) -> str:
    """What to do about a record of Snakemake's that it cannot read."""
    folder = next((f for f in RECORD_FOLDERS if record.startswith(f)), RECORD_FOLDERS[0])
    return (f"Snakemake's record {record} is corrupt (an interrupted write?): delete the folder {folder} (the "
            "results stay; Snakemake then trusts their modification times) and start again")


def unwritable_advice(path: str) -> str:
    """What to do about an output Snakemake cannot write."""
    return (f"cannot write {path} (permission denied or read-only file system): make it and its folder writable "
            "(chmod u+w) and start again")


def _unreadable(path: Path, validate: Callable[[dict[str, Any]], object] | None) -> bool:
    """Whether Snakemake would fail on this record: not UTF-8 text, JSON other than an object, or an object
    `validate` refuses. Unfinished JSON is not: Snakemake skips it with a warning (a record being written)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, RecursionError):
        return True
    except json.JSONDecodeError:
        return False
    if not isinstance(record, dict):
        return True
    try:
        if validate is not None:
            validate(record)
    except ValueError:  # pydantic's ValidationError
        return True
    return False


def corrupt_record(workdir: Path, validate: Callable[[dict[str, Any]], object] | None = None) -> str | None:
    """The first record under `workdir`'s .snakemake/metadata or .snakemake/incomplete that Snakemake would fail on
    (`validate`: Snakemake's own check of a metadata record), relative to `workdir`; None when all read."""
    for folder in RECORD_FOLDERS:
        for dirpath, _, names in sorted(os.walk(Path(workdir) / folder)):
            for name in sorted(names):
                path = Path(dirpath) / name
                if _unreadable(path, validate if folder.endswith("metadata") else None):
                    return str(path.relative_to(workdir))
    return None


def unwritable_output(outputs: Iterable[str]) -> str | None:
    """The first output this process may not create or replace (its nearest existing folder is not writable, or
    the file system is read-only); None when every one may be written."""
    checked: dict[Path, bool] = {}
    for output in outputs:
        folder = Path(os.path.abspath(output)).parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if folder not in checked:
            checked[folder] = os.access(folder, os.W_OK | os.X_OK)
        if not checked[folder]:
            return str(output)
    return None


def explain(output: str) -> str | None:
    """One line saying what went wrong and what to do, for a Snakemake failure we know; None otherwise."""
    if "Directory cannot be locked" in output or "LockException" in output:
        return ("this folder is locked by another Snakemake run, or by one that was killed: if none is running, "
                "run `snakemake --unlock` (same --configfile) and start again")
    if re.search(r"\.snakemake/metadata|snakemake/persistence", output) and re.search(
            r"JSONDecodeError|UnicodeDecodeError|EOFError|Expecting value|Unterminated string", output):
        where = _METADATA.search(output)
        return corrupt_record_advice(where.group(1) if where else RECORD_FOLDERS[0])
    denied = _PERMISSION.search(output) or _PROTECTED.search(output)
    if denied:
        return unwritable_advice(denied.group(1))
    return None


def run(argv: Sequence[str]) -> int:
    """Run `argv` (a Snakemake command), echoing its output; on a known failure print one line; its exit code."""
    proc = subprocess.Popen(list(argv), stdout=sys.stdout, stderr=subprocess.PIPE, text=True, errors="replace")
    held: list[str] = []  # a traceback is held back until we know whether it is a known failure
    kept: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        if held or line.startswith("Traceback (most recent call last)"):
            held.append(line)
            continue
        kept.append(line)
        sys.stderr.write(line)
    code = proc.wait()
    if code == 0:
        sys.stderr.write("".join(held))
        return 0
    advice = explain("".join(kept[-200:] + held))
    if advice is None:
        sys.stderr.write("".join(held))
    else:
        print(f"x2softmax snakemake: {advice}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: `python -m x2softmax.snakerun SNAKEMAKE-COMMAND...`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.exit("usage: python -m x2softmax.snakerun snakemake [ARGS...]")
    sys.exit(run(args))


if __name__ == "__main__":
    main()
