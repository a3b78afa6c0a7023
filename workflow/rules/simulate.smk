rule simulate:
    """Forced 2D turbulence at one Reynolds number and seed (jax-cfd, GPU when available)."""
    output:
        paths.SIMULATION,
    log:
        log_of("simulate", "re{re}_seed{seed}"),
    benchmark:
        benchmark_of("simulate", "re{re}_seed{seed}")
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
