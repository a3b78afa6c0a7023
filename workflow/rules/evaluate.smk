rule evaluate:
    """Errors, spectra and calibration of one sample file."""
    input:
        unpack(planned_inputs("evaluate")),
    output:
        paths.EVALUATION,
    log:
        log_of("evaluate", "{name}"),
    benchmark:
        benchmark_of("evaluate", "{name}")
    wildcard_constraints:
        name="(sr|fc)/.+",
    conda:
        ENVIRONMENTS["analysis"]
    threads: 1
    resources:
        execution=EXECUTION["evaluate"],
    params:
        job=planned_params("evaluate"),
        code=PLAN.code("evaluate"),
    shell:
        command(
            "evaluate",
            "--job {params.job:q} --input {input.sample:q} --output {output:q}",
        )


rule summary:
    """One row per task, model, Reynolds number, split (and lead): the paper's tables."""
    input:
        unpack(planned_inputs("summary")),
    output:
        csv=report(
            paths.SUMMARY_CSV,
            "../report/summary.rst",
            category="Evaluation",
            labels={"table": "summary"},
        ),
        nc=paths.SUMMARY_NC,
    log:
        log_of("evaluate", "summary"),
    conda:
        ENVIRONMENTS["analysis"]
    params:
        code=PLAN.code("summary"),
    shell:
        command(
            "summary",
            "--output-csv {output.csv:q} --output-nc {output.nc:q} {input.evaluations:q}",
        )
