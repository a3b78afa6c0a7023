# A thin adapter over the study plan (src/flex/plan.py): which jobs exist, their inputs, outputs
# and parameters are decided there; the rules only declare and run one command each.
import sys
from snakemake.exceptions import WorkflowError
from pathlib import Path

# The workflow's own src/ first, as for the jobs (see `command` below).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

try:
    from flex import paths
    from flex.config import ConfigError
    from flex.config.load import layered, load_study, read_yaml
    from flex.kinds import TASK_TITLES, TRIVIAL
    from flex.plan import ENTRY_MODULES, EXECUTION_SECTIONS, StudyPlan
    from flex.train.launch import launch
except ImportError as error:
    sys.exit(
        f"cannot import the flex package ({error}); install it first: pip install -e '.[test]'"
    )

try:
    if workflow.overwrite_configfiles or workflow.config_settings.config:
        # Snakemake merged --configfile / --config over the Snakefile's configfile key by key;
        # redo the merge by the package's rule (flex.config.load.merged), under which a file that
        # sets train.overrides sets all of them
        given = [Path(path).absolute() for path in workflow.overwrite_configfiles]
        default = [p for p in workflow.configfiles if Path(p).absolute() not in given]
        layers = [read_yaml(path) or {} for path in [*default, *given]]
        config.clear()
        config.update(layered({}, *layers, dict(workflow.config_settings.config)))
    PLAN = StudyPlan(
        load_study(config, workflow.source_path("../../config/schema.yaml"))
    )
except ConfigError as error:
    sys.exit(str(error))


def _environment_file(family, relative):
    """The conda environment file of a family of rules (config: execution.environments),
    as an absolute path; a missing file stops the workflow before any job."""
    path = Path(workflow.basedir) / relative
    if not path.is_file():
        sys.exit(
            f"'execution.environments.{family}' = {relative!r}: no such file in the repository "
            f"({workflow.basedir}); allowed: a conda environment file, e.g. envs/{family}.yaml"
        )
    return str(path)


ENVIRONMENTS = {
    family: _environment_file(family, relative)
    for family, relative in vars(PLAN.study.execution.environments).items()
}
"""Conda environment files by family (`--sdm conda`): `conda: ENVIRONMENTS["sim"]`."""

DATA_AND_TRAINING_PRIORITY = 1
"""Priority of the rules that make the data and train the models (simulate, coarsen,
training_statistics, train) over the sample and evaluate jobs (0): every ready job of theirs
starts before a sample job, so that all training jobs, the longest of a study, are under way
before the short sample and evaluate jobs fill the cores, instead of one started last running
alone at the end (bench/README.md, "Where the default study's time goes")."""

EXECUTION = {rule: PLAN.execution(rule) for rule in EXECUTION_SECTIONS}
"""Execution settings per rule (JSON). Rules pass them as the resource `execution`, not as
params: changing them reruns nothing (`--set-resources RULE:execution=...` overrides them)."""


_TRIVIAL = "|".join(f"{task}/{model}" for task, model in TRIVIAL.items())
TRIVIAL_SAMPLE_NAMES = f"(?:{_TRIVIAL})/.+"
TRAINED_SAMPLE_NAMES = f"(?!(?:{_TRIVIAL})/)(?:{'|'.join(TRIVIAL)})/.+"
"""Sample names ({task}/{model}/...) of the trivial baselines, which need no GPU (rule
sample_trivial), and of the trained models (rule sample)."""


def _wildcards(wildcards):
    return {name: value for name, value in wildcards.items()}


def planned_inputs(rule):
    """Input function: the planned job's named inputs."""
    return lambda wildcards: PLAN.job(rule, _wildcards(wildcards)).inputs


def planned_params(rule):
    """Params function: the planned job's parameters (JSON)."""
    return lambda wildcards: PLAN.job(rule, _wildcards(wildcards)).params


def planned_outputs(rule):
    """The outputs of a rule's single planned job (rules without wildcards)."""
    (job,) = PLAN.jobs(rule)
    return list(job.outputs)


def log_of(stage, name):
    return paths.LOG.format(stage=stage, name=name)


def benchmark_of(stage, name):
    return paths.BENCHMARK.format(stage=stage, name=name)


def command(rule, arguments, program="python"):
    """`PROGRAM -m <the rule's module> ARGUMENTS` (PROGRAM: python, or a launcher of several
    processes ending in python), with the workflow's own src/ first on the path (what the code
    digest hashes), the rule's execution settings, and the log."""
    settings = (
        " --execution {resources.execution:q}" if rule in EXECUTION_SECTIONS else ""
    )
    return (
        "PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}} "
        f"{program} -m {ENTRY_MODULES[rule].removesuffix('.__main__')} {arguments}{settings}"
        " > {log:q} 2>&1"
    )


def training_ranks(wildcards):
    """Resource function: the GPUs of a training job, one per rank (train.defaults.ranks or its
    override: a training setting, so a change reruns the job)."""
    return PLAN.job("train", _wildcards(wildcards)).job.settings.ranks


def training_launch(field):
    """Params function: the train job's launcher (`program`) or its extra arguments
    (`arguments`), from its resources (flex.train.launch); derived from resources, so not a
    rerun trigger (the ranks are, as a training setting)."""

    def value(wildcards, resources):
        try:
            return getattr(launch(resources), field)
        except ValueError as error:
            raise WorkflowError(str(error)) from None

    return value


in_report = report
"""Snakemake's `report()` flag under a name that its parser does not take for the `report:`
directive where a call starts a line."""


def figure_outputs():
    """The planned figures and tables. In the report (`snakemake --report`): each PNG figure
    under "Figures", by task ("Super-resolution", "Forecasting", or "Both tasks" for the studies
    across them), labelled with its figure and task; the CSV tables under "Tables"."""
    outputs = []
    for path in planned_outputs("figures"):
        stem, suffix = Path(path).stem, Path(path).suffix
        task = stem.rsplit("_", 1)[-1]
        if suffix == ".png":
            figure = stem.removesuffix(f"_{task}") if task in TASK_TITLES else stem
            outputs.append(
                in_report(
                    path,
                    f"../report/{stem}.rst",
                    category="Figures",
                    subcategory=TASK_TITLES.get(task, "Both tasks"),
                    labels={
                        "figure": figure,
                        "task": task if figure != stem else "both",
                    },
                )
            )
        elif suffix == ".csv":
            caption = "tables" if stem in TASK_TITLES else stem  # claims, calibration
            outputs.append(
                in_report(
                    path,
                    f"../report/{caption}.rst",
                    category="Tables",
                    labels={"table": TASK_TITLES.get(stem, stem)},
                )
            )
        else:
            outputs.append(path)
    return outputs
