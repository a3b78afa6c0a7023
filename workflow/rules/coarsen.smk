rule coarsen:
    """Coarse-grain one trajectory (method and factor from config.coarsen), lazily in chunks."""
    input:
        simulation="results/simulate/re{re}_seed{seed}.nc",
    output:
        "results/coarsen/re{re}_seed{seed}.nc",
    log:
        "logs/coarsen/re{re}_seed{seed}.log",
    benchmark:
        "benchmarks/coarsen/re{re}_seed{seed}.tsv"
    conda:
        "../../envs/sim.yaml"
    threads: 1
    params:
        job=coarsen_job(),
        code=code_digest("coarsen"),
    shell:
        "PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}} python -m flex.coarsen --job {params.job:q} --input {input.simulation:q} --output {output:q} > {log:q} 2>&1"


rule training_statistics:
    """Mean and standard deviation of each field over the training trajectories only."""
    input:
        training_simulation_files(),
    output:
        "results/coarsen/training_statistics.nc",
    log:
        "logs/coarsen/training_statistics.log",
    benchmark:
        "benchmarks/coarsen/training_statistics.tsv"
    conda:
        "../../envs/sim.yaml"
    threads: 1
    params:
        job=statistics_job(),
        code=code_digest("data"),
    shell:
        "PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}} python -m flex.data --job {params.job:q} --output {output:q} {input:q} > {log:q} 2>&1"
