"""The report's declared outputs: every notebook, the figures and tables it writes, and how they are saved.

The workflow declares `figure_paths` and `table_paths` as the outputs of each notebook job and the index page lists
them with their captions, so a notebook must write exactly these files (`check_outputs` is its last cell).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from x2softmax.io import atomic_path

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

FIGURE_FORMATS = ("png", "pdf")
FIGURE_DPI = 120

# Papermill parameters every notebook takes (its own are its NOTEBOOKS entry's "paths" and "from_config": the key of
# x2softmax.report.params.notebook_lists giving the value under the run's configuration).
COMMON_PATHS = {"results_dir": "results", "figures_dir": "reports/figures", "tables_dir": "reports/tables"}
SUMMARY_CSV = "results/summary/metrics.csv"
REFERENCE_CSV = "config/reference_numbers.csv"
UNCERTAINTY_DIR = "results/uncertainty"
TRAIN_DIR = "results/train"
RUN_HEALTH_CSV = "results/summary/run_health.csv"
UNCERTAINTY_INPUT = "{uncertainty_dir}/{uncertainty_table}.csv"  # every table `x2softmax uncertainty` writes

# Per notebook, its one declaration: title, data, declared figures and tables, its parameters ("paths",
# "from_config"), the files it reads ("inputs": the notebook job's inputs in the workflow, each "{name}" a parameter
# of the notebook or a list of x2softmax.report.params.INPUT_LISTS, expanded by params.notebook_inputs), the functions
# its footer names as computing its numbers ("functions": called by the notebook, by a function it calls, or by the
# workflow rule that wrote its inputs), and captions. What else a notebook calls is read from its code cells
# (tests/report/test_notebook_declarations.py).
NOTEBOOKS: dict[str, dict] = {
    "01_margins": {
        "title": "Target logits and the adaptive margin",
        "data": "analysis",
        "figures": ["01_target_logits", "01_angular_margins", "01_decision_boundaries", "01_x2_grid"],
        "tables": ["01_margin_at_angles", "01_x2_grid_minimum"],
        "paths": {"margins_dir": "results/analysis/margins"},
        "from_config": {},
        "inputs": ["{margins_dir}/{margin_table}.csv"],
        "functions": ["x2softmax.analysis.margins.write_margin_tables", "x2softmax.report.summaries.margin_at_angles",
                      "x2softmax.report.summaries.x2_grid_minimum", "x2softmax.report.verdicts.margin_claim_verdict",
                      "x2softmax.report.verdicts.grid_verdict"],
        "captions": {
            "01_target_logits": "Target logit f(θ) and cosine margin cos θ − f(θ) of every loss",
            "01_angular_margins": "Two-class angular margin versus the angle between the class weights",
            "01_decision_boundaries": "Decision boundaries of two classes at a small and a large inter-class angle",
            "01_x2_grid": "X2-Softmax target logit and angular margin over the a, h, k grid",
            "01_margin_at_angles": "Angular margin of each loss at selected angles between class weights",
            "01_x2_grid_minimum": "Minimum X2 angular margin and where it occurs, per (a, h, k)",
        },
    },
    "02_toy": {
        "title": "Toy example: 8 classes on the circle and the sphere",
        "data": "toy",
        "figures": ["02_toy_2d", "02_toy_3d"],
        "tables": ["02_toy_compactness", "02_toy_seed_comparison"],
        "paths": {"toy_dir": "results/toy"},
        "from_config": {"toy_losses": "toy_losses", "dims": "dims", "toy_data": "toy_data"},
        "inputs": ["{toy_dir}/{toy_losses}_{dims}d.npz"],
        "functions": ["x2softmax.analysis.toy.run_toy", "x2softmax.analysis.geometry.compactness_table",
                      "x2softmax.analysis.toy.compactness_comparisons", "x2softmax.report.verdicts.compactness_verdict"],
        "captions": {
            "02_toy_2d": "Held-out 2-D features of 8 classes per loss, with the class centres",
            "02_toy_3d": "Held-out 3-D features per loss (Lambert equal-area projection of the sphere)",
            "02_toy_compactness": "Intra-class compactness and inter-class separation per loss and dimension",
            "02_toy_seed_comparison": "X2 minus each loss: mean angle to the class centre (deg) over the toy seeds, "
                                      "with its 95 % interval and the per-seed spread",
        },
    },
    "03_verification": {
        "title": "Pair verification (LFW, CFP-FP, AgeDB-30, CALFW, CPLFW, VGG2-FP)",
        "figures": ["03_verification_accuracy", "03_accuracy_error_bars"],
        "tables": ["03_verification", "03_reference_comparison", "03_accuracy_intervals", "03_seed_summary",
                   "03_paired_comparisons", "03_power"],
        "paths": {"summary_csv": SUMMARY_CSV, "reference_csv": REFERENCE_CSV, "uncertainty_dir": UNCERTAINTY_DIR,
                  "train_dir": TRAIN_DIR, "run_health_csv": RUN_HEALTH_CSV},
        "from_config": {"runs": "loss_runs"},
        "inputs": ["{summary_csv}", "{reference_csv}", "{run_health_csv}", UNCERTAINTY_INPUT,
                   "{train_dir}/{runs}/summary.json"],
        "functions": ["x2softmax.evaluate.run.evaluate_model", "x2softmax.report.summaries.verification_table",
                      "x2softmax.report.summaries.reference_comparison", "x2softmax.evaluate.uncertainty"],
        "captions": {
            "03_accuracy_error_bars": "Accuracy per run with its 95 % bootstrap interval (pairs resampled within folds)",
            "03_accuracy_intervals": "Accuracy (%) per run and seed with its 95 % bootstrap interval over pairs",
            "03_seed_summary": "Accuracy (%) per loss: mean ± sample std over its training seeds",
            "03_paired_comparisons": "X2-Softmax minus each baseline on the same pairs and seeds, 95 % interval "
                                     "(test-set and training noise), verdict",
            "03_power": "Half-width of each paired X2 − baseline interval (points) against its target",
            "03_verification_accuracy": "Verification accuracy per loss and benchmark, 10-fold and oracle protocols",
            "03_verification": "Verification accuracy (%) per loss × benchmark, one column per protocol",
            "03_reference_comparison": "This run next to published numbers with the same metric; the difference only where comparable (real data)",
        },
    },
    "04_ijb": {
        "title": "IJB-B / IJB-C 1:1 verification and 1:N identification",
        "figures": ["04_ijb_roc", "04_similarity_distributions", "04_identification_tpir_fpir", "04_identification_cmc",
                    "04_tar_error_bars"],
        "tables": ["04_ijb_tar", "04_similarity_overlap", "04_identification", "04_measurable_far", "04_tar_intervals",
                   "04_seed_summary", "04_paired_comparisons", "04_power"],
        "paths": {"summary_csv": SUMMARY_CSV, "reference_csv": REFERENCE_CSV, "eval_dir": "results/eval",
                  "uncertainty_dir": UNCERTAINTY_DIR, "train_dir": TRAIN_DIR, "run_health_csv": RUN_HEALTH_CSV},
        "from_config": {"runs": "loss_runs", "suites": "suites"},
        "inputs": ["{summary_csv}", "{reference_csv}", "{run_health_csv}", UNCERTAINTY_INPUT,
                   "{eval_dir}/{runs}/ijb_{suites}_scores.npz", "{eval_dir}/{runs}/ijb_{suites}_1N.json",
                   "{train_dir}/{runs}/summary.json"],
        "functions": ["x2softmax.evaluate.run.evaluate_model", "x2softmax.report.summaries.ijb_tar_table",
                      "x2softmax.report.summaries.roc_points", "x2softmax.analysis.geometry.overlap_coefficient",
                      "x2softmax.evaluate.uncertainty"],
        "captions": {
            "04_tar_error_bars": "TAR per run and FAR with its 95 % bootstrap interval (templates resampled)",
            "04_tar_intervals": "TAR (%) per run, seed and FAR with its 95 % interval; — not measurable",
            "04_measurable_far": "Impostor pairs and the lowest measurable FAR (1 / impostor pairs) per suite",
            "04_seed_summary": "TAR (%) per loss: mean ± sample std over its training seeds",
            "04_paired_comparisons": "X2-Softmax minus each baseline on the same templates (1N: probe templates) and "
                                     "seeds, 95 % interval (test-set and training noise), verdict",
            "04_power": "Half-width of each paired X2 − baseline interval (points) against its target",
            "04_ijb_roc": "ROC curves (TAR vs FAR, log scale) per IJB suite and loss",
            "04_similarity_distributions": "Genuine and impostor template similarities per suite and loss",
            "04_ijb_tar": "TAR (%) at FAR 1e-6 … 1e-1 per loss and suite (protocol N1D1F2)",
            "04_similarity_overlap": "Overlap coefficient of the genuine and impostor similarity histograms",
            "04_identification": "1:N rank-1, rank-5 and TPIR (%) at FPIR 1e-2, 1e-1 per run and suite, 95 % interval "
                                 "over probe templates; — not measurable",
            "04_identification_tpir_fpir": "1:N TPIR against FPIR (DET/CIR curve, log scale) per IJB suite and loss",
            "04_identification_cmc": "1:N cumulative match characteristic (rank-k identification rate) per suite and loss",
        },
    },
    "05_training": {
        "title": "Training curves and cost",
        "figures": ["05_training_curves", "05_saturation"],
        "tables": ["05_run_health", "05_training_cost"],
        "paths": {"train_dir": TRAIN_DIR, "benchmarks_dir": "results/benchmarks", "run_health_csv": RUN_HEALTH_CSV},
        "from_config": {"runs": "runs"},
        "inputs": ["{train_dir}/{runs}/{train_record}", "{benchmarks_dir}/train_{runs}.tsv", "{run_health_csv}"],
        "functions": ["x2softmax.train.trainer.train", "x2softmax.report.summaries.training_curves",
                      "x2softmax.report.summaries.training_cost_table", "x2softmax.train.health.run_health",
                      "x2softmax.report.health.saturation_words"],
        "captions": {
            "05_training_curves": "Training loss, accuracy and learning rate per loss and ablation (first seed)",
            "05_saturation": "Median target probability (after scale and margin) and share of samples under 1e-6",
            "05_run_health": "Per run: final loss, saturation diagnostic, backbone sha256 and byte-identical runs",
            "05_training_cost": "Wall time, throughput and peak memory per training job",
        },
    },
    "06_ablations": {
        "title": "X2-Softmax ablations: a, h, k and the gradient",
        "figures": ["06_ablation_accuracy", "06_ablation_loss"],
        "tables": ["06_ablations"],
        "paths": {"summary_csv": SUMMARY_CSV, "train_dir": TRAIN_DIR, "uncertainty_dir": UNCERTAINTY_DIR,
                  "run_health_csv": RUN_HEALTH_CSV},
        "from_config": {"default_run": "default_run", "ablations": "ablations"},
        "inputs": ["{summary_csv}", "{run_health_csv}", UNCERTAINTY_INPUT, "{train_dir}/{ablations}/{train_record}",
                   "{train_dir}/{default_run}/{train_record}"],
        "functions": ["x2softmax.report.summaries.ablation_table", "x2softmax.report.summaries.training_curves",
                      "x2softmax.report.verdicts.ablation_verdict"],
        "captions": {
            "06_ablation_accuracy": "Verification accuracy of the X2 ablations next to the default X2 run",
            "06_ablation_loss": "Training loss curves of the X2 ablations and the default X2 run",
            "06_ablations": "Hyperparameters and verification accuracy (%) of each ablation",
        },
    },
    "07_geometry": {
        "title": "Geometry of the trained class centres",
        "figures": ["07_nearest_angles", "07_realised_margins", "07_angle_vs_count"],
        "tables": ["07_geometry_summary"],
        "paths": {"train_dir": TRAIN_DIR, "class_counts_csv": "{data_root}/class_counts.csv"},
        "from_config": {"runs": "base_runs", "loss_specs": "loss_specs"},
        "inputs": ["{train_dir}/{runs}/head.pt", "{class_counts_csv}"],
        "functions": ["x2softmax.analysis.geometry.class_geometry", "x2softmax.report.summaries.geometry_summary",
                      "x2softmax.report.verdicts.geometry_verdict"],
        "captions": {
            "07_nearest_angles": "Angle from each class centre to its nearest other centre, per run",
            "07_realised_margins": "Two-class margin each loss realises at the trained nearest-centre angles",
            "07_angle_vs_count": "Nearest-centre angle versus the number of training images of the class",
            "07_geometry_summary": "Nearest-centre angles and realised margins per run (quantiles)",
        },
    },
    "08_mechanism": {
        "title": "Controlled study: does the margin adapt where the paper says it matters?",
        "study": "mechanism",  # a study page: built by its preset (make replicate PRESET=mechanism), under reports/mechanism
        "figures": ["08_dose_response", "08_kind_accuracy", "08_margin_vs_angle", "08_convergence"],
        "tables": ["08_scoreboard", "08_run_health", "08_dose_slopes", "08_lookalike", "08_margin_slopes",
                   "08_convergence_slopes"],
        "paths": {"results_dir": "results/mechanism", "figures_dir": "reports/mechanism/figures",
                  "tables_dir": "reports/mechanism/tables", "study_tables_dir": "results/mechanism/tables",
                  "run_health_csv": "results/mechanism/run_health.csv"},
        "from_config": {"loss_specs": "loss_specs"},
        "functions": ["x2softmax.analysis.probe.head_probe", "x2softmax.analysis.probe.kind_rows",
                      "x2softmax.analysis.study_tables.study_tables", "x2softmax.analysis.mechanism.world_differences",
                      "x2softmax.report.mechanism.scoreboard", "x2softmax.report.mechanism.verdict_text",
                      "x2softmax.train.health.run_health"],
        "inputs": ["{study_tables_dir}/{study_table}.csv", "{run_health_csv}"],
        "captions": {
            "08_dose_response": "X2 minus each fixed-margin loss (points of accuracy) against the look-alike share of "
                                "the training world, per class-size imbalance, 95 % intervals (training noise)",
            "08_margin_vs_angle": "Margin each class's trained features keep against the angle to its nearest class "
                                  "weight, per loss (binned means), with page 01's analytic two-class margin",
            "08_kind_accuracy": "Accuracy per pair kind (genuine, look-alike impostor, random impostor) per loss and "
                                "world, mean and range over seeds",
            "08_convergence": "Per-class training accuracy against the angle to the nearest class weight, per loss "
                              "(binned means over every run)",
            "08_scoreboard": "The study's claims in a controlled synthetic world: effect, 95 % interval, verdict",
            "08_dose_slopes": "Dose-response slope of X2's advantage on the look-alike share (points per unit "
                                "share), per benchmark, accuracy and fixed-margin loss",
            "08_lookalike": "X2 minus each fixed-margin loss on look-alike impostor pairs, overall, and on look-alike "
                            "pairs at equal overall accuracy (points)",
            "08_margin_slopes": "Slope of the realised margin on the inter-class angle per loss (deg per deg), beside "
                                "the analytic curve's slope over the same angles and the paper's direction",
            "08_convergence_slopes": "Slope of per-class training accuracy on the angle to the nearest class (points per "
                              "10 deg) per loss, and each fixed-margin loss minus X2",
            "08_run_health": "The study's runs: trained networks, distinct backbones, saturated runs",
        },
    },
}

# The default's pages (reports/*.html, the index); a study page (its entry has "study") is built by its preset only.
PAGES = [nb for nb, entry in NOTEBOOKS.items() if "study" not in entry]

SYNTHETIC_NOTICE = (
    "These results come from SYNTHETIC data (generated identities written in the real formats). They show that "
    "the pipeline runs end to end; the numbers say nothing about how the losses behave on real faces, and "
    "differences to published numbers are not meaningful."
)


def notebook_entry(nb: str) -> dict:
    """The NOTEBOOKS entry of `nb`, or a KeyError listing the known notebooks."""
    if nb not in NOTEBOOKS:
        raise KeyError(f"unknown report notebook {nb!r}; known: {sorted(NOTEBOOKS)}")
    return NOTEBOOKS[nb]


def figure_paths(nb: str, figures_dir: Path) -> list[Path]:
    """Every figure file notebook `nb` writes: PNG and PDF of each declared figure stem."""
    return [Path(figures_dir) / f"{stem}.{ext}" for stem in notebook_entry(nb)["figures"] for ext in FIGURE_FORMATS]


def table_paths(nb: str, tables_dir: Path) -> list[Path]:
    """Every table file notebook `nb` writes (CSV)."""
    return [Path(tables_dir) / f"{stem}.csv" for stem in notebook_entry(nb)["tables"]]


def caption(stem: str) -> str:
    """The one-line caption of a figure or table stem."""
    nb = next((name for name, entry in NOTEBOOKS.items() if stem in entry["captions"]), None)
    if nb is None:
        raise KeyError(f"no caption for {stem!r}: it is not a declared figure or table")
    return NOTEBOOKS[nb]["captions"][stem]


def _declared(nb: str, kind: str, stem: str) -> None:
    """Raise unless `stem` is a declared figure/table of `nb` (keeps notebooks and declarations in step)."""
    stems = notebook_entry(nb)[kind]
    if stem not in stems:
        raise KeyError(f"{stem!r} is not a declared {kind[:-1]} of {nb}; declared: {stems}")


def save_figure(fig: Figure, nb: str, stem: str, figures_dir: Path) -> Path:
    """Write a declared figure as PNG and PDF (atomically, no timestamps) and close it; return the PNG path."""
    import matplotlib.pyplot as plt

    _declared(nb, "figures", stem)
    written = []
    for ext in FIGURE_FORMATS:
        target = Path(figures_dir) / f"{stem}.{ext}"
        metadata = {"CreationDate": None} if ext == "pdf" else {"Software": None}
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=ext, dpi=FIGURE_DPI, bbox_inches="tight", metadata=metadata)
        written.append(target)
    plt.close(fig)
    return written[0]


def save_table(table: pd.DataFrame, nb: str, stem: str, tables_dir: Path) -> Path:
    """Write a declared table as CSV atomically; return its path."""
    _declared(nb, "tables", stem)
    target = Path(tables_dir) / f"{stem}.csv"
    with atomic_path(target) as tmp:
        table.to_csv(tmp, index=False)
    return target


def check_outputs(nb: str, figures_dir: Path, tables_dir: Path) -> list[Path]:
    """Raise FileNotFoundError naming every declared output of `nb` that is missing; return them all."""
    paths = figure_paths(nb, figures_dir) + table_paths(nb, tables_dir)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"notebook {nb} did not write its declared outputs: {', '.join(missing)}")
    return paths
