# The X2-Softmax replication as one DAG: data -> training (one job per loss / ablation) -> evaluation ->
# analysis -> papermill notebooks -> offline HTML -> reports/index.html. Rules only call the `x2softmax` CLI, a shell
# function that runs `<Snakemake's interpreter> -m x2softmax` (workflow/rules/common.smk), never a command on PATH.
# The embedded default is config/config.yaml; presets (config/presets/*.yaml) are merged over it with
# `--configfile`. See README.md and docs/architecture.md.

configfile: workflow.source_path("config/config.yaml")


include: "workflow/rules/common.smk"


wildcard_constraints:
    run="|".join(map(re.escape, RUNS)) if RUNS else "NONE",
    suite="|".join(IJB_SUITES),
    loss="[a-z0-9_]+",

include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"
if config.get("mechanism"):  # the controlled study (PRESET=mechanism): its own files, its own targets

    include: "workflow/rules/mechanism.smk"


rule all:
    input:
        MECHANISM_TARGETS if config.get("mechanism") else [
        "reports/index.html",
        "results/preflight.json",  # the data stage's record (dvc.yaml), for synthetic roots too
        ],
    default_target: True
