# The controlled study of adaptive margins (issue 36; a preset with a `mechanism` grid: config/presets/mechanism.yaml).
# Every world of the grid (x2softmax.analysis.worlds) gets its own synthetic root, trains every run of the
# preset there (X2-Softmax, ArcFace, CosFace x seeds), evaluates them overall and per impostor kind and measures
# each trained head's geometry; the study's tables, health check and page follow. Every file lives under
# results/mechanism/<world>/ and reports/mechanism/: running the preset never writes the default's results/ or
# reports/ pages. The Snakefile includes this file only for a config with the grid (the default's DAG is unchanged).

from x2softmax.analysis.worlds import worlds
from x2softmax.report.params import notebook_inputs, notebook_parameters
from x2softmax.vocabulary import STUDY_TABLES

MECH = "results/mechanism"
MECH_REPORTS = "reports/mechanism"
WORLDS = {world.name: world for world in worlds(config)}

wildcard_constraints:
    world="|".join(map(re.escape, WORLDS)),


def world_config(world):
    """The resolved config with its data root and synthetic settings those of one world."""
    return {**config, "data": {**config["data"], "root": f"{MECH}/{world}/data", "synthetic": WORLDS[world].synthetic}}


def world_train_files(world):
    """A world's training set."""
    return [f"{MECH}/{world}/data/train/{name}" for name in ("train.rec", "train.idx", "property")]


rule mechanism_synthesize:
    """One world's synthetic identities (its training population; the verification sets are the same in every world)."""
    input:
        code("data/synthetic", "data/recordio.py", "data/pairs.py", "data/ijb.py", "data/images.py"),
    output:
        train=world_train_files("{world}"),
        val=[f"{MECH}/{{world}}/data/val/{b}.bin" for b in EVALUATED_BENCHMARKS],
        manifest=f"{MECH}/{{world}}/data/MANIFEST.json",
    params:
        settings=lambda wildcards: json.dumps(WORLDS[wildcards.world].synthetic, sort_keys=True),
    log:
        f"logs/mechanism/{{world}}/synthesize.log",
    priority: 10
    threads: 2
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax data synth --settings {params.settings:q} --out {MECH}/{wildcards.world:q}/data --workers {threads}"
        " > {log:q} 2>&1"


rule mechanism_decode_pairs:
    """A world's verification set decoded once at the model's input size."""
    input:
        bin=f"{MECH}/{{world}}/data/val/{{benchmark}}.bin",
        code=code("data/pair_store.py", "data/pairs.py", "data/images.py"),
    output:
        f"{MECH}/{{world}}/pairs/{{benchmark}}.npz",
    params:
        size=config["model"]["input_size"],
    wildcard_constraints:
        benchmark="|".join(EVALUATED_BENCHMARKS),
    log:
        f"logs/mechanism/{{world}}/decode_pairs_{{benchmark}}.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax data decode-pairs --bin {input.bin:q} --size {params.size:q} --out {output:q} > {log:q} 2>&1"


rule mechanism_train:
    """One run of the study in one world (the preset's run spec, the world's training set)."""
    input:
        world_train_files("{world}"),
        code("train", "models", "data/recordio.py", "data/images.py", "cpukernels.py"),
        loss_code,
    output:
        backbone=f"{MECH}/{{world}}/train/{{run}}/backbone.pt",
        head=f"{MECH}/{{world}}/train/{{run}}/head.pt",
        metrics=f"{MECH}/{{world}}/train/{{run}}/metrics.jsonl",
        summary=f"{MECH}/{{world}}/train/{{run}}/summary.json",
    params:
        spec=lambda wildcards: xcfg.run_spec(world_config(wildcards.world), wildcards.run).to_json(),
        cpu_kernels=config["cpu_kernels"],  # exported by the shell prefix (common.smk); a change reruns the job
    threads: config["train"]["threads"]
    log:
        f"logs/mechanism/{{world}}/train_{{run}}.log",
    benchmark:
        f"{MECH}/{{world}}/benchmarks/train_{{run}}.tsv"
    resources:
        gpu=config["train"]["gpus"],
        **resources_for("train"),
    conda:
        ENV
    shell:
        "x2softmax train --spec {params.spec:q} --out {MECH}/{wildcards.world:q}/train/{wildcards.run:q}"
        " --ckpt {MECH}/{wildcards.world:q}/checkpoints/{wildcards.run:q} --gpus {resources.gpu:q} > {log:q} 2>&1"


rule mechanism_evaluate:
    """Verification accuracy of one run of one world on the preset's benchmarks (no IJB)."""
    input:
        backbone=f"{MECH}/{{world}}/train/{{run}}/backbone.pt",
        summary=f"{MECH}/{{world}}/train/{{run}}/summary.json",
        val=[f"{MECH}/{{world}}/data/val/{b}.bin" for b in EVALUATED_BENCHMARKS],
        pairs=[f"{MECH}/{{world}}/pairs/{b}.npz" for b in EVALUATED_BENCHMARKS],
        code=code(*EVALUATE_CODE, "models", "data/pairs.py", "data/pair_store.py", "cpukernels.py"),
    output:
        metrics=f"{MECH}/{{world}}/eval/{{run}}/metrics.csv",
        verification=f"{MECH}/{{world}}/eval/{{run}}/verification.json",
        pair_scores=f"{MECH}/{{world}}/eval/{{run}}/verification_scores.npz",
    params:
        loss=lambda wildcards: run_loss(wildcards.run),
        benchmarks=",".join(EVALUATED_BENCHMARKS),
        protocols=",".join(config["evaluate"]["protocols"]),
        batch_size=config["evaluate"]["batch_size"],
        cpu_kernels=config["cpu_kernels"],  # exported by the shell prefix (common.smk); a change reruns the job
    threads: config["train"]["threads"]
    log:
        f"logs/mechanism/{{world}}/evaluate_{{run}}.log",
    resources:
        gpu=config["evaluate"]["gpus"],
        **resources_for("evaluate"),
    conda:
        ENV
    shell:
        "x2softmax evaluate --model {input.backbone:q} --run {wildcards.run:q} --loss {params.loss:q}"
        " --data-root {MECH}/{wildcards.world:q}/data --benchmarks {params.benchmarks:q}"
        " --protocols {params.protocols:q} --batch-size {params.batch_size:q} --gpus {resources.gpu:q}"
        " --threads {threads} --pair-stores {MECH}/{wildcards.world:q}/pairs"
        " --out {MECH}/{wildcards.world:q}/eval/{wildcards.run:q} > {log:q} 2>&1"


rule mechanism_probe:
    """One world: every run's head geometry per class on the training set, and its accuracy per pair kind."""
    input:
        world_train_files("{world}"),
        runs=expand(f"{MECH}/{{{{world}}}}/train/{{run}}/{{f}}", run=RUNS, f=("backbone.pt", "head.pt", "summary.json")),
        scores=expand(f"{MECH}/{{{{world}}}}/eval/{{run}}/verification_scores.npz", run=RUNS),
        code=code("analysis/probe.py", "analysis/geometry.py", "analysis/margins.py", "evaluate/embed.py",
                  "evaluate/verification.py", "models", "data/synthetic", "data/recordio.py"),
    output:
        geometry=f"{MECH}/{{world}}/geometry.csv",
        kinds=f"{MECH}/{{world}}/kinds.csv",
    params:
        runs=",".join(RUNS),
        settings=lambda wildcards: json.dumps(WORLDS[wildcards.world].synthetic, sort_keys=True),
        benchmarks=",".join(EVALUATED_BENCHMARKS),
        batch_size=config["evaluate"]["batch_size"],
        cpu_kernels=config["cpu_kernels"],  # exported by the shell prefix (common.smk); a change reruns the job
    threads: config["train"]["threads"]
    log:
        f"logs/mechanism/{{world}}/probe.log",
    resources:
        **resources_for("evaluate"),
    conda:
        ENV
    shell:
        "x2softmax mechanism probe --world-dir {MECH}/{wildcards.world:q} --runs {params.runs:q}"
        " --settings {params.settings:q} --benchmarks {params.benchmarks:q} --batch-size {params.batch_size:q}"
        " --threads {threads} > {log:q} 2>&1"


rule mechanism_run_health:
    """Every run of every world: saturation at the end of training and byte-identical networks (across worlds too)."""
    input:
        expand(f"{MECH}/{{world}}/train/{{run}}/{{f}}", world=WORLDS, run=RUNS,
               f=("summary.json", "metrics.jsonl", "backbone.pt")),
        code("train/health.py", "train/saturation.py"),
    output:
        f"{MECH}/run_health.csv",
    params:
        runs=",".join(f"{world}/train/{run}" for world in WORLDS for run in RUNS),
    log:
        "logs/mechanism/run_health.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax run-health --train-root {MECH} --runs {params.runs:q} --out {output:q} > {log:q} 2>&1"
        " || {{ cat {log:q} >&2; exit 1; }}; grep 'warning:' {log:q} >&2 || true"


rule mechanism_tables:
    """The study's tables: every run's results, and the four questions with effects, intervals and verdicts."""
    input:
        metrics=expand(f"{MECH}/{{world}}/eval/{{run}}/metrics.csv", world=WORLDS, run=RUNS),
        probes=expand(f"{MECH}/{{world}}/{{f}}", world=WORLDS, f=("geometry.csv", "kinds.csv")),
        code=code("analysis/mechanism.py", "analysis/study_tables.py", "evaluate/seeds.py"),
    output:
        expand(f"{MECH}/tables/{{table}}.csv", table=STUDY_TABLES),
    params:
        config=lambda wildcards: json.dumps(config, sort_keys=True),
    log:
        "logs/mechanism/tables.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax mechanism tables --root {MECH} --config {params.config:q} --out {MECH}/tables > {log:q} 2>&1"


MECH_PAGE = "08_mechanism"
MECH_PARAMETERS = notebook_parameters(MECH_PAGE, config)  # its folders (reports/mechanism/...) and loss specs


rule mechanism_config:
    """The configuration the study ran with (its preset merged over the default): the page's provenance."""
    output:
        f"{MECH}/config.json",
    params:
        config=lambda wildcards: json.dumps(config, sort_keys=True),
    log:
        "logs/mechanism/config.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax report config {params.config:q} --out {output:q} > {log:q} 2>&1"


rule mechanism_environment:
    """The commit, machine, CPU and libraries the study's numbers were produced with (the page's footer; committed
    beside its pages)."""
    input:
        expand(f"{MECH}/{{world}}/train/{{run}}/summary.json", world=WORLDS, run=RUNS),
        config=f"{MECH}/config.json",
        code=code("report/provenance.py", "cpukernels.py"),
    output:
        results=f"{MECH}/environment.json",
        committed=f"{MECH_REPORTS}/environment.json",
    log:
        "logs/mechanism/environment.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax report environment --config {input.config:q} --out {output.results:q} {output.committed:q}"
        " > {log:q} 2>&1"


rule mechanism_notebook:
    """Page 08: the study's figures, scoreboard rows and verdicts from its tables (papermill)."""
    input:
        notebook=source(REPO / f"notebooks/{MECH_PAGE}.ipynb"),
        data=notebook_inputs(MECH_PAGE, config),  # its study tables and run health (report.artifacts.NOTEBOOKS)
        code=code("analysis", "report", "evaluate/seeds.py", "train/health.py"),
    output:
        notebook=f"{MECH}/notebooks/{MECH_PAGE}.ipynb",
        figures=[str(p) for p in figure_paths(MECH_PAGE, MECH_PARAMETERS["figures_dir"])],
        tables=[str(p) for p in table_paths(MECH_PAGE, MECH_PARAMETERS["tables_dir"])],
    params:
        parameters=yaml_params(parameters=MECH_PARAMETERS),
    log:
        f"logs/mechanism/{MECH_PAGE}.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "papermill {input.notebook:q} {output.notebook:q} -k python3 --no-progress-bar"
        " -y {params.parameters:q} > {log:q} 2>&1"


rule mechanism_render:
    """Page 08 as a light offline page under reports/mechanism (the stylesheet and index of reports/ linked)."""
    input:
        notebook=f"{MECH}/notebooks/{MECH_PAGE}.ipynb",
        config=f"{MECH}/config.json",
        environment=f"{MECH}/environment.json",
        code=code("report/render.py", "report/style.py", "report/artifacts.py", "report/provenance.py"),
    output:
        f"{MECH_REPORTS}/{MECH_PAGE}.html",
    log:
        f"logs/mechanism/render_{MECH_PAGE}.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax report render {input.notebook:q} {output:q} --config {input.config:q} > {log:q} 2>&1"


# What `make replicate` builds under this preset (the Snakefile's rule all).
MECHANISM_TARGETS = [f"{MECH_REPORTS}/{MECH_PAGE}.html",
                     *[str(p) for p in table_paths(MECH_PAGE, MECH_PARAMETERS["tables_dir"])]]
