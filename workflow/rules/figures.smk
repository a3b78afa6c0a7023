rule figures:
    """The paper's figures (PNG for the report, PDF) and tables, from the declared inputs."""
    input:
        unpack(planned_inputs("figures")),
    output:
        figure_outputs(),
    log:
        log_of("figures", "figures"),
    conda:
        ENVIRONMENTS["analysis"]
    params:
        job=planned_params("figures"),
        code=PLAN.code("figures"),
    shell:
        command(
            "figures",
            "--job {params.job:q} --summary {input.summary:q} "
            "--evaluations {input.evaluations:q} --samples {input.samples:q} "
            "--outputs {output:q}",
        )
