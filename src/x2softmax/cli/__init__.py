"""The `x2softmax` command: every workflow rule calls one of its subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from x2softmax import phases, shutdown
from x2softmax.cli import checks, data, reports, runs, study
from x2softmax.errors import report_failure


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `x2softmax` command."""
    parser = argparse.ArgumentParser(prog="x2softmax", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (data, runs, reports, study, checks):  # the order of the subcommands in --help
        group.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `x2softmax` command; a failure ends with one clear line (X2S_TRACEBACK=1 shows more).
    Where X2S_CPU_PHASES is set, a success ends with its CPU-seconds by phase (x2softmax.phases). The process then
    ends without the interpreter's final garbage collections (x2softmax.shutdown)."""
    shutdown.skip_final_collection()
    phases.start()
    args = build_parser().parse_args(argv)
    report_failure(args.command, lambda: args.func(args))
    phases.finish()

