# FLEX turbulence pipeline: simulate -> coarsen -> train -> sample -> evaluate -> figures.
# Table of contents only: the rules live in workflow/rules/, the logic in src/flex/.
from snakemake.utils import min_version

min_version("9.20")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/coarsen.smk"
include: "workflow/rules/train.smk"


localrules:
    all,


rule all:
    default_target: True
    input:
        simulation_files(),
        coarse_files(),
        "results/coarsen/training_statistics.nc",
        trained_models(),
