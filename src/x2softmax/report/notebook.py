"""What every report notebook does first, in one call: work from the project root, take its parameters (those the
workflow passes, or, opened by hand, those of the finished run), set the plot style and show the page's notice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from x2softmax.report.artifacts import COMMON_PATHS
from x2softmax.report.page import data_kind, dataset_digests, show_notice, show_text
from x2softmax.report.params import enter_project_root, notebook_parameters, run_config


def setup(nb: str, parameters: Mapping[str, Any] | None) -> SimpleNamespace:
    """Start page `nb`: its parameters as attributes (None: those of results/config.json), notice shown."""
    import pandas as pd

    from x2softmax.report import plots

    results_dir = (parameters or {}).get("results_dir", COMMON_PATHS["results_dir"])
    enter_project_root(results_dir)
    if parameters is None:  # opened by hand: the parameters the workflow would pass for the finished run
        parameters = notebook_parameters(nb, run_config(results_dir))
    p = SimpleNamespace(**parameters)
    plots.setup_style()
    pd.set_option("display.precision", 2)
    show_notice(data_kind(nb, p.synthetic, getattr(p, "toy_data", "digits")), p.preset,
                dataset_digests(p.data_root, p.datasets))
    return p


def show_comparison_notice(p: SimpleNamespace, runs: Sequence[str]) -> None:
    """Show what a comparison of `runs` must know (identical networks, departures from the paper), if anything."""
    from x2softmax.report.health import comparison_notice

    notice = comparison_notice(Path(p.run_health_csv), Path(p.train_dir), runs)
    if notice:
        show_text(notice)
