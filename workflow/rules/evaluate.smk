rule evaluate:
    """Errors, spectra and calibration of one sample file."""
    input:
        "results/sample/{path}.nc",
    output:
        "results/evaluate/{path}.nc",
    log:
        "logs/evaluate/{path}.log",
    benchmark:
        "benchmarks/evaluate/{path}.tsv"
    wildcard_constraints:
        path="(sr|fc)/.+",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        job=evaluate_job(),
        code=code_digest("evaluate"),
    shell:
        "PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}} python -m flex.evaluate --job {params.job:q} --input {input:q} --output {output:q} > {log:q} 2>&1"


rule summary:
    """One row per task, model, Reynolds number, split (and lead): the paper's tables."""
    input:
        evaluation_files(),
    output:
        csv="results/evaluate/summary.csv",
        nc="results/evaluate/summary.nc",
    log:
        "logs/evaluate/summary.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_digest("evaluate"),
    shell:
        "PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}} python -m flex.evaluate.summary_cli --output {output.csv:q} {input:q} > {log:q} 2>&1"
