rule sample:
    """Ensembles of one model on one test trajectory (trivial baselines: one member)."""
    input:
        unpack(sample_inputs),
    output:
        "results/sample/{task}/{model}/re{re}_seed{seed}.nc",
    log:
        "logs/sample/{task}/{model}/re{re}_seed{seed}.log",
    benchmark:
        "benchmarks/sample/{task}/{model}/re{re}_seed{seed}.tsv"
    wildcard_constraints:
        task="sr|fc",
        model="flex|flex_raw|unet|regression|bicubic|persistence",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        job=sample_job,
        model=model_argument,
        code=code_digest("sample", "models", "diffusion", "data", "train"),
    shell:
        "PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}} python -m flex.sample --job {params.job:q} --results results {params.model} --output {output:q} --threads {threads} > {log:q} 2>&1"


use rule sample as sample_zero_shot with:
    output:
        "results/sample/sr/{model}/re{re}_seed{seed}_{variable}.nc",
    log:
        "logs/sample/sr/{model}/re{re}_seed{seed}_{variable}.log",
    benchmark:
        "benchmarks/sample/sr/{model}/re{re}_seed{seed}_{variable}.tsv"
    wildcard_constraints:
        model="flex|bicubic",
        variable="u|v",


use rule sample as sample_steps_study with:
    output:
        "results/sample/{task}/{model}/steps{steps}/re{re}_seed{seed}.nc",
    log:
        "logs/sample/{task}/{model}/steps{steps}/re{re}_seed{seed}.log",
    benchmark:
        "benchmarks/sample/{task}/{model}/steps{steps}/re{re}_seed{seed}.tsv"
    wildcard_constraints:
        task="sr|fc",
        model="flex",
        steps="[0-9]+",
