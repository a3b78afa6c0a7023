rule train:
    """Train one model for one task (residual diffusion, raw diffusion or regression)."""
    input:
        unpack(planned_inputs("train")),
    output:
        model=paths.MODEL,
        history=report(
            paths.HISTORY,
            "../report/training_history.rst",
            category="Training",
            labels={"task": "{task}", "model": "{model}"},
        ),
        job=paths.TRAIN_JOB,
    log:
        log_of("train", "{task}_{model}"),
    benchmark:
        benchmark_of("train", "{task}_{model}")
    priority: DATA_AND_TRAINING_PRIORITY
    conda:
        ENVIRONMENTS["torch"]
    threads: 1
    resources:
        execution=EXECUTION["train"],
        gpu=training_ranks,  # several nodes: README, "Training on several GPUs"
    params:
        launch=training_launch("program"),
        launch_arguments=training_launch("arguments"),
        job=planned_params("train"),
        code=PLAN.code("train"),
        coarse=lambda wildcards, input: (
            f"--train-coarse {input.train_coarse} --validation-coarse {input.validation_coarse}"
            if "train_coarse" in input.keys()
            else ""
        ),
        init=lambda wildcards, input: (
            f"--init-model {input.init_model}" if "init_model" in input.keys() else ""
        ),
    # checkpoint.pt and best_candidate.pt beside model.pt are not outputs: they survive a killed
    # job, and the rerun resumes from them when they belong to the same job, code and data.
    shell:
        command(
            "train",
            "--job {params.job:q} --train-fine {input.train_fine:q} "
            "--validation-fine {input.validation_fine:q} {params.coarse} {params.init} "
            "--statistics {input.statistics:q} --model-output {output.model:q} "
            "--history-output {output.history:q} --job-output {output.job:q} "
            "--threads {threads} {params.launch_arguments}",
            program="{params.launch}",
        )
