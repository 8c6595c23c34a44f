"""`x2softmax analyze`, `toy`, `report ...`: the margin analysis, the toy example and the HTML pages."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from x2softmax.cli.types import json_arg


def cmd_analyze_margins(args: argparse.Namespace) -> None:
    """Write the margin tables of every loss."""
    from x2softmax.analysis.margins import write_margin_tables

    for path in write_margin_tables(args.losses, Path(args.out)):
        print(path)


def cmd_toy(args: argparse.Namespace) -> None:
    """Run the toy example of one loss for each --dim, into the --out given in the same place (one process: the
    workflow's one job per loss pays the start-up once for both dimensions)."""
    if len(args.dim) != len(args.out):  # refused before torch is imported
        sys.exit(f"x2softmax toy: {len(args.dim)} --dim but {len(args.out)} --out: give one --out per --dim")
    from x2softmax.analysis.toy import run_toy

    for dim, out in zip(args.dim, args.out):
        print(run_toy(args.loss, args.hparams, dim, args.settings, Path(out)))


def cmd_report_render(args: argparse.Namespace) -> None:
    """Render an executed notebook into offline HTML."""
    from x2softmax.report.render import render_html

    print(render_html(Path(args.notebook), Path(args.html), Path(args.config) if args.config else None))


def cmd_report_style(args: argparse.Namespace) -> None:
    """Write the pages' shared stylesheet."""
    from x2softmax.report.style import write_stylesheet

    print(write_stylesheet(Path(args.out)))


def cmd_report_index(args: argparse.Namespace) -> None:
    """Build reports/index.html."""
    from x2softmax.io import read_json

    config = read_json(Path(args.config))  # a missing, non-JSON or non-object file: one line naming it ...
    from x2softmax.report.index import build_index  # ... before the pages' libraries (torch, scipy) are imported

    print(build_index(Path(args.reports), Path(args.out), config=config, results_dir=Path(args.results)))


def cmd_report_environment(args: argparse.Namespace) -> None:
    """Record commit, machine and library versions (the same record into every --out)."""
    from x2softmax.report.provenance import write_environment

    for out in args.out:
        print(write_environment(Path(out), config_json=Path(args.config) if args.config else None))


def cmd_report_reproduction(args: argparse.Namespace) -> None:
    """Compare the regenerated numbers, verdicts and environment with the committed ones (or print the written
    summary)."""
    from x2softmax.report.provenance import read_environment
    from x2softmax.report.reproduction import read_reproduction, reproduction_check, summary_line, write_reproduction

    if args.summary:  # print the line of the table the workflow wrote (make replicate's last line)
        written = read_reproduction(Path(args.out))
        print(summary_line(written) if written else f"Reproduction: not checked ({args.out} absent).")
        return
    claims = None
    if args.config:
        from x2softmax.io import read_json
        from x2softmax.report.claims import claims_table

        config = read_json(Path(args.config))  # a missing, non-JSON or non-object file: one line naming it
        claims = claims_table(Path(args.metrics).parent, Path(args.results), config)
    check = reproduction_check(Path(args.metrics), Path(args.uncertainty), Path(args.repo),
                               read_environment(Path(args.results)), claims)
    write_reproduction(check, Path(args.out))
    print(summary_line(check))


def cmd_report_config(args: argparse.Namespace) -> None:
    """Write the resolved config as JSON."""
    from x2softmax.io import atomic_write_json

    atomic_write_json(args.out, args.config)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the subcommands analyze, toy, report."""
    analyze = sub.add_parser("analyze", help="analysis tables").add_subparsers(dest="analyze_command", required=True)
    p = analyze.add_parser("margins", help="target logits and margins of every loss")
    p.add_argument("--losses", type=json_arg, required=True, help="JSON: display name -> {name, hparams}")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_analyze_margins)

    p = sub.add_parser("toy", help="the toy example for one loss and each dimension given")
    p.add_argument("--loss", required=True)
    p.add_argument("--dim", type=int, choices=[2, 3], required=True, action="append",
                   help="embedding dimension (repeatable: one --out each, in the same order)")
    p.add_argument("--hparams", type=json_arg, default={})
    p.add_argument("--settings", type=json_arg, default={})
    p.add_argument("--out", required=True, action="append", help="the .npz of the --dim in the same place")
    p.set_defaults(func=cmd_toy)

    report = sub.add_parser("report", help="HTML reports").add_subparsers(dest="report_command", required=True)
    p = report.add_parser("render", help="executed notebook -> offline HTML")
    p.add_argument("notebook")
    p.add_argument("html")
    p.add_argument("--config", default=None, help="resolved config JSON (its hash goes into the page footer)")
    p.set_defaults(func=cmd_report_render)
    p = report.add_parser("style", help="write the shared stylesheet of the pages")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report_style)
    p = report.add_parser("index", help="build reports/index.html")
    p.add_argument("--config", required=True, help="resolved config JSON")
    p.add_argument("--results", default="results")
    p.add_argument("--reports", default="reports")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report_index)
    p = report.add_parser("environment",
                          help="record commit, machine, CPU and library versions (results/environment.json)")
    p.add_argument("--out", required=True, nargs="+",
                   help="results/environment.json and the copy committed with the pages, reports/environment.json")
    p.add_argument("--config", default=None, help="resolved config JSON: its hash is recorded too")
    p.set_defaults(func=cmd_report_environment)
    p = report.add_parser("reproduction",
                          help="regenerated numbers, verdicts and environment vs those committed in git")
    p.add_argument("--metrics", default="reports/metrics.json", help="the regenerated reports/metrics.json")
    p.add_argument("--uncertainty", default="results/uncertainty", help="the regenerated interval tables")
    p.add_argument("--results", default="results",
                   help="the results directory (environment.json, summary/run_health.csv for the claims)")
    p.add_argument("--config", default=None, help="resolved config JSON: the claims are compared too")
    p.add_argument("--repo", default=".", help="the git checkout whose HEAD holds the committed numbers")
    p.add_argument("--out", required=True)
    p.add_argument("--summary", action="store_true", help="only print the summary line of the written table")
    p.set_defaults(func=cmd_report_reproduction)
    p = report.add_parser("config", help="write the resolved config as JSON")
    p.add_argument("config", type=json_arg)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report_config)
