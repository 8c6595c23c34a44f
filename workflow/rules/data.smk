# Data: synthetic identities in the real formats (embedded default) or the real datasets (paper preset),
# class sizes, and aligned IJB stores.

if config["synthetic"]:

    rule synthesize:
        """Synthetic face identities written as RecordIO, .bin pair sets and IJB-style suites."""
        input:
            code("data/synthetic", "data/recordio.py", "data/pairs.py", "data/ijb.py", "data/images.py"),
        output:
            train_files(),
            [f"{DATA}/val/{b}.bin" for b in BENCHMARKS],
            [m for suite in IJB_SUITES for m in suite_meta(suite)],
            manifest=f"{DATA}/MANIFEST.json",
        params:
            settings=lambda wildcards: json.dumps(config["data"]["synthetic"], sort_keys=True),
            root=data_path(),  # the root it writes
        log:
            "logs/data/synthesize.log",
        benchmark:
            "results/benchmarks/synthesize.tsv"
        priority: 10  # every job but the analysis and toy ones waits for it: start it first
        # its images rendered in 2 processes (1 where --cores is 1; a 2-CPU node fits it); the bytes do not depend on it
        threads: 2
        resources:
            **resources_for("default"),
        conda:
            ENV
        shell:
            "x2softmax data synth --settings {params.settings:q} --out {params.root:q} --workers {threads}"
            " > {log:q} 2>&1"

else:

    rule fetch_dataset:
        """Download one real dataset of the registry (or say exactly how to obtain it), then check it."""
        # Downloads run where Snakemake runs (under Slurm: the login node, which has the network and the shared data
        # root), never as compute jobs that would need both (x2softmax.cluster.SUBMIT_HOST_RULES; `make plan`).
        localrule: "fetch_dataset" in SUBMIT_HOST_RULES
        output:
            checked("{dataset}"),
        params:
            root=data_path(),
        log:
            "logs/data/fetch_{dataset}.log",
        retries: 2
        resources:
            **resources_for("default"),
        conda:
            ENV
        shell:
            "x2softmax data fetch {wildcards.dataset:q} --root {params.root:q} --marker {output:q} > {log:q} 2>&1"


rule preflight:
    """Every dataset the preset needs is present and valid before any training or evaluation job; a synthetic root
    is the data itself (no dataset named). The record `make data` and DVC's data stage end with."""
    input:
        [f"{DATA}/MANIFEST.json"] if config["synthetic"] else [checked(d) for d in config["data"]["required"]],
    output:
        "results/preflight.json",
    params:
        datasets=[] if config["synthetic"] else config["data"]["required"],
        root=data_path(),
    log:
        "logs/data/preflight.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax data preflight {params.datasets:q} --root {params.root:q} --out {output:q} > {log:q} 2>&1"


rule class_counts:
    """Images per identity of the training set (for the class-geometry report)."""
    input:
        data_inputs("train"),
    output:
        f"{DATA}/class_counts.csv",
    params:
        train=data_path("train"),
    log:
        "logs/data/class_counts.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax data class-counts {params.train:q} --out {output:q} > {log:q} 2>&1"


rule align_ijb:
    """5-point similarity alignment of every IJB image to 112x112, written to an aligned store."""
    input:
        lambda wildcards: data_inputs("ijb", wildcards.suite),
        code("data/align.py", "data/ijb.py"),
    output:
        images="results/aligned/{suite}/images.npy",
        index="results/aligned/{suite}/index.tsv",
    params:
        root=data_path("{suite}"),
    log:
        "logs/data/align_{suite}.log",
    benchmark:
        "results/benchmarks/align_{suite}.tsv"
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax data align {params.root:q} --suite {wildcards.suite:q} --out results/aligned/{wildcards.suite:q}"
        " > {log:q} 2>&1"


rule decode_pairs:
    """A verification set's distinct images decoded once at the model's input size (read by every evaluation job)."""
    input:
        lambda wildcards: data_inputs("val", wildcards.benchmark),
        code("data/pair_store.py", "data/pairs.py", "data/images.py"),
    output:
        "results/pairs/{benchmark}.npz",
    params:
        bin=data_path("val", "{benchmark}.bin"),
        size=config["model"]["input_size"],
    wildcard_constraints:
        benchmark="|".join(EVALUATED_BENCHMARKS),
    log:
        "logs/data/decode_pairs_{benchmark}.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax data decode-pairs --bin {params.bin:q} --size {params.size:q} --out {output:q} > {log:q} 2>&1"
