# Config validation (before any job starts), input functions and per-stage params.
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

# The workflow's own src/ first, as for the jobs (see the shell commands of the rules).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

try:
    from flex.config import (
        CoarsenJob,
        ConfigError,
        SimulationJob,
        EvaluateConfig,
        SampleJob,
        StatisticsJob,
        TrainJob,
        load_study,
        reynolds_label,
        to_dict,
    )
    from flex import paths
    from flex.data.splits import all_trajectories, trajectories
except ImportError as error:
    sys.exit(
        f"cannot import the flex package ({error}); install it first: pip install -e '.[test]'"
    )

try:
    STUDY = load_study(config, workflow.source_path("../../config/schema.yaml"))
except ConfigError as error:
    sys.exit(str(error))

SOURCE_ROOT = Path(workflow.basedir) / "src" / "flex"
SHARED_SOURCES = ["__init__.py", "cli.py", "dims.py", "errors.py", "config", "io"]
"""Sources every stage runs; `code_digest(stage)` adds the stage's own package."""


wildcard_constraints:
    re=r"[0-9]+(\.[0-9]+)?",
    seed=r"[0-9]+",


def code_digest(*packages):
    """SHA-256 of the sources a stage runs: an edit reruns it, a touch or a fresh clone does not."""
    digest = hashlib.sha256()
    for name in [*packages, *SHARED_SOURCES]:
        path = SOURCE_ROOT / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(SOURCE_ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def split_trajectories(split):
    return trajectories(STUDY.reynolds_numbers, STUDY.seeds, split)


def simulation_runs():
    """(Reynolds number, seed) of every trajectory of every split (flex.data.splits)."""
    found = all_trajectories(STUDY.reynolds_numbers, STUDY.seeds)
    return sorted({(t.reynolds_number, t.seed) for t in found})


def simulation_file(reynolds_number, seed):
    return str(paths.simulation_file(reynolds_number, seed))


def coarse_file(reynolds_number, seed):
    return str(paths.coarse_file(reynolds_number, seed))


def simulation_files():
    return [simulation_file(re, seed) for re, seed in simulation_runs()]


def coarse_files():
    return [coarse_file(re, seed) for re, seed in simulation_runs()]


def training_simulation_files():
    return [
        simulation_file(t.reynolds_number, t.seed) for t in split_trajectories("train")
    ]


def reynolds_from_label(label):
    for re in STUDY.reynolds_numbers.all:
        if reynolds_label(re) == label:
            return re
    raise ValueError(f"Reynolds number {label} is not in the study configuration")


def simulation_job(wildcards):
    """The resolved job of one trajectory, as JSON: only what this job depends on."""
    job = SimulationJob(
        physics=STUDY.physics,
        simulate=STUDY.simulate,
        reynolds_number=reynolds_from_label(wildcards.re),
        seed=int(wildcards.seed),
    )
    return stage_job(job)


def stage_job(job):
    return json.dumps(to_dict(job), sort_keys=True)


def coarsen_job():
    return stage_job(CoarsenJob(coarsen=STUDY.coarsen))


def statistics_job():
    """Only the training split's definition: a new held-out Re or test seed changes nothing."""
    return stage_job(
        StatisticsJob(
            train_reynolds_numbers=STUDY.reynolds_numbers.train,
            train_seeds=STUDY.seeds.train,
            snapshots_per_chunk=STUDY.coarsen.snapshots_per_chunk,
        )
    )


def split_files(split):
    """Fine and coarse files of a split's trajectories (what a training job reads)."""
    found = split_trajectories(split)
    return [simulation_file(t.reynolds_number, t.seed) for t in found] + [
        coarse_file(t.reynolds_number, t.seed) for t in found
    ]


def train_job(wildcards):
    """The resolved job of one (task, model): its settings and the training/validation split."""
    return stage_job(
        TrainJob(
            task=wildcards.task,
            model=wildcards.model,
            settings=STUDY.train.settings(wildcards.task, wildcards.model),
            data=STUDY.data,
            coarsen_factor=STUDY.coarsen.coarsen_factor,
            train_reynolds_numbers=STUDY.reynolds_numbers.train,
            train_seeds=STUDY.seeds.train,
            validation_seeds=STUDY.seeds.validation,
        )
    )


def trained_models():
    return [
        f"results/train/{task}/{model}/model.pt"
        for task in STUDY.train.tasks
        for model in STUDY.train.models
    ]


TRIVIAL = {"sr": "bicubic", "fc": "persistence"}


def test_trajectories():
    return split_trajectories("test")


def _label(t):
    return f"re{reynolds_label(t.reynolds_number)}_seed{t.seed}"


def sample_files():
    """Every sample file of the study: trained and trivial models on every test trajectory, the
    zero-shot velocity runs of the super-resolution models, and the sampling-steps study.
    """
    files = []
    for task in STUDY.train.tasks:
        for model in [*STUDY.train.models, TRIVIAL[task]]:
            files += [
                f"results/sample/{task}/{model}/{_label(t)}.nc"
                for t in test_trajectories()
            ]
            if task == "sr" and model in (
                "flex",
                TRIVIAL[task],
            ):  # the paper's zero-shot test
                files += [
                    f"results/sample/sr/{model}/{_label(t)}_{variable}.nc"
                    for t in test_trajectories()
                    for variable in STUDY.sample.zero_shot_variables
                ]
        if "flex" in STUDY.train.models:
            files += [
                f"results/sample/{task}/flex/steps{steps}/{_label(t)}.nc"
                for steps in STUDY.sample.steps_study
                for t in test_trajectories()
                if not t.held_out
            ]
    return files


def evaluation_files():
    return [
        f.replace("results/sample/", "results/evaluate/", 1) for f in sample_files()
    ]


def _test_trajectory(wildcards):
    re, seed = reynolds_from_label(wildcards.re), int(wildcards.seed)
    for t in test_trajectories():
        if t.reynolds_number == re and t.seed == seed:
            return t
    raise ValueError(
        f"Re={wildcards.re} seed={wildcards.seed} is not a test trajectory"
    )


def sample_inputs(wildcards):
    t = _test_trajectory(wildcards)
    inputs = {
        "fine": simulation_file(t.reynolds_number, t.seed),
        "coarse": coarse_file(t.reynolds_number, t.seed),
        "statistics": "results/coarsen/training_statistics.nc",
    }
    task = wildcards.get("task", "sr")  # the zero-shot rule is super-resolution only
    if wildcards.model != TRIVIAL[task]:
        inputs["model"] = f"results/train/{task}/{wildcards.model}/model.pt"
    return inputs


def sample_job(wildcards):
    """The resolved sampling job: settings (steps study: its steps, samples, horizon), trajectory."""
    t = _test_trajectory(wildcards)
    settings = STUDY.sample
    steps = wildcards.get("steps")
    if steps is not None:
        settings = dataclasses.replace(
            settings,
            sampling_steps=int(steps),
            max_samples=settings.steps_study_samples,
            horizon=settings.steps_study_horizon,
        )
    return stage_job(
        SampleJob(
            task=wildcards.get("task", "sr"),
            model=wildcards.model,
            variable=wildcards.get("variable", "vorticity"),
            sample=settings,
            data=STUDY.data,
            coarsen_factor=STUDY.coarsen.coarsen_factor,
            reynolds_number=t.reynolds_number,
            seed=t.seed,
            held_out=t.held_out,
        )
    )


def model_argument(wildcards, input):
    return f"--model {input.model}" if "model" in input.keys() else ""


def evaluate_job():
    return stage_job(STUDY.evaluate)


def figures_job():
    return stage_job(STUDY.figures)


def flex_sample_files():
    """The sample files the figures read beside the summary: FLEX and the trivial baselines."""
    return [
        f"results/sample/{task}/{model}/{_label(t)}.nc"
        for task in STUDY.train.tasks
        for model in ("flex", TRIVIAL[task])
        for t in test_trajectories()
    ]
