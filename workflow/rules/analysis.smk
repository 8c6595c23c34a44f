# Analysis that needs no trained model: margins of every loss, and the toy example.


rule margins:
    """Target logits, cosine and angular margins, decision boundaries and the X2 (a, h, k) grid."""
    input:
        code("analysis/margins.py"),
    output:
        expand("results/analysis/margins/{table}.csv", table=MARGIN_TABLES),
    params:
        losses=lambda wildcards: json.dumps(xcfg.losses_for_analysis(config), sort_keys=True),
    log:
        "logs/analysis/margins.log",
    resources:
        **resources_for("default"),
    conda:
        ENV
    shell:
        "x2softmax analyze margins --losses {params.losses:q} --out results/analysis/margins > {log:q} 2>&1"


rule toy:
    """The toy example: 8 classes, 2-D and 3-D normalised embeddings, one loss (one job per loss: both dimensions
    in one process, which starts Python and torch once; a change to one loss reruns its job only)."""
    input:
        code("analysis/toy.py", "cpukernels.py"),
        lambda wildcards: loss_sources(wildcards.loss),
        data_inputs("train") if config["toy"]["settings"].get("data") == "recordio" else [],
    output:
        expand("results/toy/{{loss}}_{dim}d.npz", dim=config["toy"]["dims"]),
    params:
        hparams=lambda wildcards: json.dumps(xcfg.loss_hparams(config, wildcards.loss), sort_keys=True),
        cpu_kernels=config["cpu_kernels"],  # exported by the shell prefix (common.smk); a change reruns the job
        settings=lambda wildcards: json.dumps(config["toy"]["settings"], sort_keys=True),
        dims=lambda wildcards, output: " ".join(f"--dim {d} --out {shlex.quote(path)}"
                                                for d, path in zip(config["toy"]["dims"], output)),
    log:
        "logs/toy/{loss}.log",
    resources:
        gpu=1,
        **resources_for("toy"),
    conda:
        ENV
    shell:
        "x2softmax toy --loss {wildcards.loss:q} {params.dims} --hparams {params.hparams:q}"
        " --settings {params.settings:q} > {log:q} 2>&1"
