# Config validation (before any job starts), input functions and per-stage params.
import hashlib
import json
import sys
from pathlib import Path

# The workflow's own src/ first, as for the jobs (see the shell commands of the rules).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

try:
    from flex.config import (
        ConfigError,
        SimulationJob,
        load_study,
        reynolds_label,
        to_dict,
    )
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


wildcard_constraints:
    re=r"[0-9]+(\.[0-9]+)?",
    seed=r"[0-9]+",


def code_digest(stage):
    """SHA-256 of the sources a stage runs: an edit reruns it, a touch or a fresh clone does not."""
    digest = hashlib.sha256()
    for name in [stage, *SHARED_SOURCES]:
        path = SOURCE_ROOT / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(SOURCE_ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def simulation_runs():
    """(Reynolds number, seed) of every trajectory: train and validation seeds at the training
    Reynolds numbers, test seeds at every Reynolds number (held-out ones included)."""
    seeds = STUDY.seeds
    runs = [
        (re, s)
        for re in STUDY.reynolds_numbers.train
        for s in seeds.train + seeds.validation
    ]
    runs += [(re, s) for re in STUDY.reynolds_numbers.all for s in seeds.test]
    return sorted(runs)


def simulation_file(reynolds_number, seed):
    return f"results/simulate/re{reynolds_label(reynolds_number)}_seed{seed}.nc"


def simulation_files():
    return [simulation_file(re, seed) for re, seed in simulation_runs()]


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
    return json.dumps(to_dict(job), sort_keys=True)
