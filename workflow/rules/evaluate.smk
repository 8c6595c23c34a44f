# Evaluation: pair verification (10-fold and oracle protocols), IJB 1:1 and IJB 1:N (from the same template features)
# per run, then one tidy table, then the uncertainty tables over every run.

# The modules one evaluation job runs (the bootstrap and uncertainty modules only rerun the uncertainty job).
EVALUATE_CODE = [f"evaluate/{m}.py" for m in ("__init__", "curves", "embed", "identification", "ijb", "run", "summary",
                                               "verification")]


rule evaluate:
    """Embeddings of every benchmark and IJB suite, verification accuracy, TAR@FAR and 1:N for one run."""
    input:
        backbone="results/train/{run}/backbone.pt",
        summary="results/train/{run}/summary.json",
        val=data_inputs("val"),
        ijb=[data_inputs("ijb", s) for s in SUITES],
        aligned=expand("results/aligned/{suite}/images.npy", suite=SUITES),
        pairs=expand("results/pairs/{benchmark}.npz", benchmark=EVALUATED_BENCHMARKS),
        code=code(*EVALUATE_CODE, "models", "data/pairs.py", "data/pair_store.py", "data/align.py", "data/ijb.py",
                  "cpukernels.py"),
    output:
        metrics="results/eval/{run}/metrics.csv",
        verification="results/eval/{run}/verification.json",
        pair_scores="results/eval/{run}/verification_scores.npz",
        ijb=expand("results/eval/{{run}}/ijb_{suite}.json", suite=SUITES),
        scores=expand("results/eval/{{run}}/ijb_{suite}_scores.npz", suite=SUITES),
        identification=expand("results/eval/{{run}}/ijb_{suite}_1N.{ext}", suite=SUITES, ext=("json", "npz")),
    params:
        loss=lambda wildcards: run_loss(wildcards.run),
        benchmarks=",".join(EVALUATED_BENCHMARKS),
        protocols=",".join(config["evaluate"]["protocols"]),
        ijb=",".join(SUITES),
        root=data_path(),
        mode=config["evaluate"]["ijb_mode"],
        batch_size=config["evaluate"]["batch_size"],
        cpu_kernels=config["cpu_kernels"],  # exported by the shell prefix (common.smk); a change reruns the job
    threads: config["train"]["threads"]
    log:
        "logs/evaluate/{run}.log",
    benchmark:
        "results/benchmarks/evaluate_{run}.tsv"
    resources:
        gpu=config["evaluate"]["gpus"],
        **resources_for("evaluate"),
    conda:
        ENV
    shell:
        "x2softmax evaluate --model {input.backbone:q} --run {wildcards.run:q} --loss {params.loss:q}"
        " --data-root {params.root:q} --benchmarks {params.benchmarks:q} --protocols {params.protocols:q}"
        " --ijb={params.ijb:q} --aligned-root results/aligned --ijb-mode {params.mode:q}"
        " --batch-size {params.batch_size:q} --gpus {resources.gpu:q} --threads {threads} --cache results/embeddings"
        " --pair-stores results/pairs"
        " --out results/eval/{wildcards.run:q} > {log:q} 2>&1"


rule summary:
    """Every (run, data set, protocol, metric, value, checkpoint) in one table, plus DVC metrics."""
    input:
        expand("results/eval/{run}/metrics.csv", run=RUNS),
    output:
        csv="results/summary/metrics.csv",
        json="reports/metrics.json",
    log:
        "logs/evaluate/summary.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax summary {input:q} --out {output.csv:q} --json {output.json:q} > {log:q} 2>&1"


rule uncertainty:
    """Bootstrap intervals per run, mean ± std over seeds and the paired X2-vs-baseline table (with verdicts)."""
    input:
        metrics=expand("results/eval/{run}/metrics.csv", run=RUNS),
        scores=expand("results/eval/{run}/verification_scores.npz", run=RUNS),
        ijb=expand("results/eval/{run}/ijb_{suite}_scores.npz", run=RUNS, suite=SUITES),
        identification=expand("results/eval/{run}/ijb_{suite}_1N.npz", run=RUNS, suite=SUITES),
        summaries=expand("results/train/{run}/summary.json", run=RUNS),
        backbones=expand("results/train/{run}/backbone.pt", run=RUNS),  # byte-identical ones: "identical networks"
        meta=[data_inputs("ijb", s) for s in SUITES],
        code=code("evaluate/uncertainty.py", "evaluate/bootstrap.py", "evaluate/coverage.py", "evaluate/curves.py",
                  "evaluate/identification.py"),
    output:
        expand("results/uncertainty/{table}.csv", table=UNCERTAINTY_TABLES),
    params:
        runs=",".join(RUNS),
        x2=SUBJECT if SUBJECT in LOSS_RUNS else "",
        ijb=",".join(SUITES),
        root=data_path(),
        replicates=config["evaluate"]["bootstrap"]["replicates"],
        seed=config["evaluate"]["bootstrap"]["seed"],
    # the verification bootstrap on 2 threads (fewer where --cores is 1); the tables do not depend on it
    threads: 2
    log:
        "logs/evaluate/uncertainty.log",
    benchmark:
        "results/benchmarks/uncertainty.tsv"
    resources:
        **resources_for("evaluate"),
    conda:
        ENV
    shell:
        "x2softmax uncertainty --runs {params.runs:q} --x2={params.x2:q} --data-root {params.root:q}"
        " --ijb={params.ijb:q} --replicates {params.replicates:q} --seed {params.seed:q}"
        " --threads {threads} --out results/uncertainty > {log:q} 2>&1"
