# FLEX turbulence pipeline: simulate -> coarsen -> train -> sample -> evaluate -> figures.
# Table of contents only: the rules live in workflow/rules/, the logic in src/flex/.
from snakemake.utils import min_version

min_version("9.20")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/coarsen.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"


localrules:
    all,
    summary,


rule all:
    default_target: True
    input:
        PLAN.targets(),
