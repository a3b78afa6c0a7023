rule train:
    """Train one model for one task (residual diffusion, raw diffusion or regression)."""
    input:
        split_files("train"),
        split_files("validation"),
        statistics="results/coarsen/training_statistics.nc",
    output:
        model="results/train/{task}/{model}/model.pt",
        history="results/train/{task}/{model}/history.csv",
        job="results/train/{task}/{model}/job.json",
    log:
        "logs/train/{task}_{model}.log",
    benchmark:
        "benchmarks/train/{task}_{model}.tsv"
    wildcard_constraints:
        task="sr|fc",
        model="flex|flex_raw|unet|regression",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        job=train_job,
        code=code_digest("train", "models", "diffusion", "data"),
    # results/train/{task}/{model}/checkpoint.pt is not an output: it survives a killed job, and
    # the rerun resumes from it.
    shell:
        "PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}} python -m flex.train --job {params.job:q} --results results --output-dir results/train/{wildcards.task}/{wildcards.model} --threads {threads} > {log:q} 2>&1"
