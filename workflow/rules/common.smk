# Config validation (before any job starts), input functions and per-stage params.
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
        StatisticsJob,
        TrainJob,
        load_study,
        reynolds_label,
        to_dict,
    )
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
    return f"results/simulate/re{reynolds_label(reynolds_number)}_seed{seed}.nc"


def coarse_file(reynolds_number, seed):
    return f"results/coarsen/re{reynolds_label(reynolds_number)}_seed{seed}.nc"


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
