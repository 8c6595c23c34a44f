# Training: one job per run (each loss of run_losses, each ablation of run_ablations).


rule train:
    """Train a backbone and classifier head with one margin loss; resumes from results/checkpoints/{run}."""
    input:
        data_inputs("train"),
        code("train", "models", "data/recordio.py", "data/images.py", "cpukernels.py"),
        loss_code,
    output:
        backbone="results/train/{run}/backbone.pt",
        head="results/train/{run}/head.pt",
        metrics="results/train/{run}/metrics.jsonl",
        summary="results/train/{run}/summary.json",
    params:
        spec=train_spec,
        cpu_kernels=config["cpu_kernels"],  # exported by the shell prefix (common.smk); a change reruns the job
    threads: config["train"]["threads"]
    log:
        "logs/train/{run}.log",
    benchmark:
        "results/benchmarks/train_{run}.tsv"
    resources:
        gpu=config["train"]["gpus"],
        **resources_for("train"),
    conda:
        ENV
    shell:
        "x2softmax train --spec {params.spec:q} --out results/train/{wildcards.run:q}"
        " --ckpt results/checkpoints/{wildcards.run:q} --gpus {resources.gpu:q} > {log:q} 2>&1"


rule run_health:
    """Per run: saturation at the end of training, and runs whose configurations differ but whose trained backbones
    are byte-identical (each such pair, and each saturated run, is also a warning line in the workflow's output)."""
    input:
        expand("results/train/{run}/{f}", run=RUNS, f=("summary.json", "metrics.jsonl", "backbone.pt")),
        code("train/health.py", "train/saturation.py"),
    output:
        "results/summary/run_health.csv",
    params:
        runs=",".join(RUNS),
    log:
        "logs/summary/run_health.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax run-health --runs {params.runs:q} --out {output:q} > {log:q} 2>&1 || {{ cat {log:q} >&2; exit 1; }};"
        " grep 'warning:' {log:q} >&2 || true"
