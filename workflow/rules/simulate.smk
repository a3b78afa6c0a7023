rule simulate:
    """Forced 2D turbulence at one Reynolds number and seed (jax-cfd, GPU when available)."""
    output:
        "results/simulate/re{re}_seed{seed}.nc",
    log:
        "logs/simulate/re{re}_seed{seed}.log",
    benchmark:
        "benchmarks/simulate/re{re}_seed{seed}.tsv"
    conda:
        "../../envs/sim.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        job=simulation_job,
        code=code_digest("simulate"),
    # Jobs run the workflow's own src/ (what code_digest hashes), installed or not, locally, under
    # Slurm and in `--sdm conda` environments alike.
    shell:
        "PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}} python -m flex.simulate --job {params.job:q} --output {output:q} > {log:q} 2>&1"
