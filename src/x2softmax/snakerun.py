"""`make replicate`'s Snakemake call: its output passes through live, and a known failure ends in one line
saying what to do instead of a traceback (corrupt .snakemake/metadata record, unwritable output folder, a lock
left by another or a killed run). An unknown failure keeps Snakemake's own output."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence

_METADATA = re.compile(r"(\.snakemake/(?:metadata|incomplete)/\S+?)['\"]?(?:\s|$)")
_PERMISSION = re.compile(r"(?:PermissionError|OSError): \[Errno (?:13|30)\] [^:]*: '([^']+)'")


def explain(output: str) -> str | None:
    """One line saying what went wrong and what to do, for a Snakemake failure we know; None otherwise."""
    if "Directory cannot be locked" in output or "LockException" in output:
        return ("this folder is locked by another Snakemake run, or by one that was killed: if none is running, "
                "run `snakemake --unlock` (same --configfile) and start again")
    if re.search(r"\.snakemake/metadata|snakemake/persistence", output) and re.search(r"JSONDecodeError|UnicodeDecodeError|EOFError|"
                                                      r"Expecting value|Unterminated string", output):
        where = _METADATA.search(output)
        record = where.group(1) if where else ".snakemake/metadata"
        return (f"Snakemake's record {record} is corrupt (an interrupted write?): delete the folder "
                ".snakemake/metadata (the results stay; Snakemake then trusts their modification times) and start "
                "again")
    denied = _PERMISSION.search(output)
    if denied:
        return (f"cannot write {denied.group(1)} (permission denied or read-only file system): make its folder "
                "writable (chmod u+w) and start again")
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
