rule coarsen:
    """Coarse-grain one trajectory (method and factor from config.coarsen), lazily in chunks."""
    input:
        unpack(planned_inputs("coarsen")),
    output:
        paths.COARSE,
    log:
        log_of("coarsen", "re{re}_seed{seed}"),
    benchmark:
        benchmark_of("coarsen", "re{re}_seed{seed}")
    priority: DATA_AND_TRAINING_PRIORITY
    conda:
        ENVIRONMENTS["sim"]
    threads: 1
    resources:
        execution=EXECUTION["coarsen"],
    params:
        job=planned_params("coarsen"),
        code=PLAN.code("coarsen"),
    shell:
        command(
            "coarsen",
            "--job {params.job:q} --input {input.simulation:q} --output {output:q}",
        )


use rule coarsen as coarsen_boundary with:
    """Coarse-grain one wall-bounded test trajectory (held_out_boundary), as the periodic ones."""
    input:
        unpack(planned_inputs("coarsen_boundary")),
    output:
        paths.BOUNDARY_COARSE,
    log:
        log_of("coarsen", "{boundary}/re{re}_seed{seed}"),
    benchmark:
        benchmark_of("coarsen", "{boundary}/re{re}_seed{seed}")
    params:
        job=planned_params("coarsen_boundary"),
        code=PLAN.code("coarsen_boundary"),


rule training_statistics:
    """Mean and standard deviation of each field over the training trajectories only."""
    input:
        unpack(planned_inputs("training_statistics")),
    output:
        paths.STATISTICS,
    log:
        log_of("coarsen", "training_statistics"),
    benchmark:
        benchmark_of("coarsen", "training_statistics")
    priority: DATA_AND_TRAINING_PRIORITY
    conda:
        ENVIRONMENTS["sim"]
    threads: 1
    resources:
        execution=EXECUTION["training_statistics"],
    params:
        job=planned_params("training_statistics"),
        code=PLAN.code("training_statistics"),
    shell:
        command(
            "training_statistics",
            "--job {params.job:q} --output {output:q} {input.simulations:q}",
        )
