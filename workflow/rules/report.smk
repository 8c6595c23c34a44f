# Reports: one papermill job per notebook (its figures and tables are declared outputs), offline HTML per
# notebook, reports/index.html, and the figures flagged for Snakemake's own report (snakemake --report).

from x2softmax.report.artifacts import COMMON_PATHS, REFERENCE_CSV, RUN_HEALTH_CSV, SUMMARY_CSV, UNCERTAINTY_DIR
from x2softmax.report.params import notebook_inputs, notebook_parameters

FIGURES_DIR = COMMON_PATHS["figures_dir"]
TABLES_DIR = COMMON_PATHS["tables_dir"]
REFERENCE = source(REPO / REFERENCE_CSV)
UNCERTAINTY = [f"{UNCERTAINTY_DIR}/{table}.csv" for table in UNCERTAINTY_TABLES]


# One papermill job per page of the default (study pages: their own rules): its inputs and parameters both come from its NOTEBOOKS entry
# (x2softmax.report.params.notebook_inputs, notebook_parameters); the reference numbers are a file of this repository.
for nb in PAGES:

    rule:
        name:
            f"notebook_{nb}"
        input:
            notebook=source(REPO / f"notebooks/{nb}.ipynb"),
            data=[REFERENCE if path == REFERENCE_CSV else path for path in notebook_inputs(nb, config)],
            code=code("analysis", "report", "torchfile.py", "evaluate/uncertainty.py", "evaluate/coverage.py"),
        output:
            notebook=f"results/notebooks/{nb}.ipynb",
            figures=[
                report(
                    path,
                    caption=str(REPO / "workflow/report/figure.rst"),
                    category=NOTEBOOKS[nb]["title"],
                    labels={"figure": Path(path).stem, "caption": caption(Path(path).stem)},
                )
                if path.endswith(".png")
                else path
                for path in map(str, figure_paths(nb, FIGURES_DIR))
            ],
            tables=[str(p) for p in table_paths(nb, TABLES_DIR)],
        params:
            parameters=yaml_params(parameters=notebook_parameters(nb, config)),
        log:
            f"logs/report/{nb}.log",
        benchmark:
            f"results/benchmarks/notebook_{nb}.tsv"  # papermill and its kernel: bench/replicate_cpu.py reads it
        resources:
            **resources_for("default"),
        conda:
            ENV
        shell:
            "papermill {input.notebook:q} {output.notebook:q} -k python3 --no-progress-bar"
            " -y {params.parameters:q} > {log:q} 2>&1"


rule stylesheet:
    """The one stylesheet every page links (reports/style.css)."""
    input:
        code=code("report/style.py"),
    output:
        "reports/style.css",
    log:
        "logs/report/stylesheet.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax report style --out {output:q} > {log:q} 2>&1"


rule render_notebook:
    """An executed notebook as a light offline page (no input cells, nothing fetched, provenance footer)."""
    input:
        notebook="results/notebooks/{nb}.ipynb",
        config="results/config.json",
        environment="results/environment.json",
        style="reports/style.css",
        code=code("report/render.py", "report/style.py", "report/artifacts.py", "report/provenance.py"),
    output:
        "reports/{nb}.html",
    wildcard_constraints:
        nb="|".join(PAGES),
    log:
        "logs/report/render_{nb}.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax report render {input.notebook:q} {output:q} --config {input.config:q} > {log:q} 2>&1"


rule resolved_config:
    """The configuration this run used (preset merged over the default), shown on the index page."""
    output:
        "results/config.json",
    params:
        config=lambda wildcards: json.dumps(config, sort_keys=True),
    log:
        "logs/report/resolved_config.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax report config {params.config:q} --out {output:q} > {log:q} 2>&1"


rule environment:
    """results/environment.json: the commit, machine, CPU and library versions the numbers were produced with
    (reruns whenever a training or evaluation output changes)."""
    input:
        expand("results/train/{run}/summary.json", run=RUNS),
        SUMMARY_CSV,
        config="results/config.json",
        code=code("report/provenance.py", "cpukernels.py"),
    output:
        results="results/environment.json",
        committed="reports/environment.json",  # committed with the pages: the reproduction check compares against it
    log:
        "logs/report/environment.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax report environment --config {input.config:q} --out {output.results:q} {output.committed:q} > {log:q} 2>&1"


rule reproduction:
    """reports/tables/reproduction.csv (and _verdicts.csv): the regenerated numbers, paired verdicts, claims and
    environment against those committed at HEAD."""
    input:
        metrics="reports/metrics.json",
        uncertainty=UNCERTAINTY,
        config="results/config.json",
        environment="results/environment.json",
        # the claims' evidence: pages 01 and 02's tables and the trainer's health check
        claims=[str(p) for nb in ("01_margins", "02_toy") for p in table_paths(nb, TABLES_DIR)],
        health=RUN_HEALTH_CSV,
        code=code("report/reproduction.py", "report/claims.py", "report/provenance.py", "evaluate/seeds.py"),
    output:
        numbers="reports/tables/reproduction.csv",
        verdicts="reports/tables/reproduction_verdicts.csv",
    log:
        "logs/report/reproduction.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax report reproduction --metrics {input.metrics:q} --uncertainty results/uncertainty"
        " --results results --config {input.config:q} --out {output.numbers:q} > {log:q} 2>&1"


rule index:
    """reports/index.html: every figure and table with its caption, configuration, provenance, protocols."""
    input:
        pages=expand("reports/{nb}.html", nb=PAGES),
        artifacts=[
            str(p) for nb in PAGES for p in [*figure_paths(nb, FIGURES_DIR), *table_paths(nb, TABLES_DIR)]
        ],
        config="results/config.json",
        style="reports/style.css",
        summaries=expand("results/train/{run}/summary.json", run=RUNS),
        code=code("report/index.py", "report/artifacts.py", "report/claims.py", "report/verdicts.py",
                  "report/provenance.py", "report/reproduction.py"),
        manifest=[f"{DATA}/MANIFEST.json"] if config["synthetic"] else [],
        uncertainty=UNCERTAINTY,
        environment="results/environment.json",
        reproduction=["reports/tables/reproduction.csv", "reports/tables/reproduction_verdicts.csv"],
        # the trainer's health check (saturated runs, identical networks)
        health=RUN_HEALTH_CSV,
    output:
        index="reports/index.html",
        claims="reports/tables/claims.csv",
        # the synthetic data manifest's settings, counts and hashes, linked from the index
        manifest=["reports/data_manifest.json"] if config["synthetic"] else [],
    log:
        "logs/report/index.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax report index --config {input.config:q} --results results --reports reports --out {output.index:q}"
        " > {log:q} 2>&1"
