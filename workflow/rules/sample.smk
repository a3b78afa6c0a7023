rule sample:
    """Ensembles of one model on one test trajectory (trivial baselines: one member); every
    sample file of the study (main comparison, zero-shot velocity, sampling-steps study).
    """
    input:
        unpack(planned_inputs("sample")),
    output:
        paths.SAMPLE,
    log:
        log_of("sample", "{name}"),
    benchmark:
        benchmark_of("sample", "{name}")
    wildcard_constraints:
        name=TRAINED_SAMPLE_NAMES,
    conda:
        ENVIRONMENTS["torch"]
    threads: 1
    resources:
        execution=EXECUTION["sample"],
        gpu=1,
    params:
        job=planned_params("sample"),
        code=PLAN.code("sample"),
        files=lambda wildcards, input: " ".join(
            f"--{name} {path}" for name, path in input.items() if name != "fine"
        ),
    shell:
        command(
            "sample",
            "--job {params.job:q} --fine {input.fine:q} {params.files} --output {output:q} "
            "--threads {threads}",
        )


use rule sample as sample_trivial with:
    """The trivial baselines' sample files (bicubic, persistence): the same command, on the CPU
    (no GPU resource), so that a cluster runs them beside the evaluations, not on a GPU.
    """
    wildcard_constraints:
        name=TRIVIAL_SAMPLE_NAMES,
    resources:
        execution=EXECUTION["sample"],
