rule simulate:
    """Forced 2D turbulence at one Reynolds number and seed (jax-cfd, GPU when available)."""
    output:
        paths.SIMULATION,
    log:
        log_of("simulate", "re{re}_seed{seed}"),
    benchmark:
        benchmark_of("simulate", "re{re}_seed{seed}")
    priority: DATA_AND_TRAINING_PRIORITY
    conda:
        ENVIRONMENTS["sim"]
    threads: 1
    resources:
        execution=EXECUTION["simulate"],
        gpu=1,
    params:
        job=planned_params("simulate"),
        code=PLAN.code("simulate"),
    shell:
        command("simulate", "--job {params.job:q} --output {output:q}")


use rule simulate as simulate_boundary with:
    """The same flow under a held-out boundary (channel: no-slip walls), one per test seed at
    each Reynolds number of held_out_boundary (jax-cfd's finite-volume solver).
    """
    output:
        paths.BOUNDARY_SIMULATION,
    log:
        log_of("simulate", "{boundary}/re{re}_seed{seed}"),
    benchmark:
        benchmark_of("simulate", "{boundary}/re{re}_seed{seed}")
    params:
        job=planned_params("simulate_boundary"),
        code=PLAN.code("simulate_boundary"),
