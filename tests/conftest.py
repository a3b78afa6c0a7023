"""Shared fixtures: the repository root, the study configs and a tiny simulation job."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flex.config import SimulateExecution, SimulationJob
from flex.config.load import load_study
from flex.kinds import MODEL_KINDS

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"
TINY = ROOT / "tests" / "config" / "tiny.yaml"


def read_yaml(path: Path) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


@pytest.fixture
def tiny_config() -> dict:
    """A fresh, mutable copy of the tiny study's raw config."""
    return copy.deepcopy(read_yaml(TINY))


def only_task(raw: dict, task: str) -> dict:
    """`raw` (changed in place) with one task: `train.tasks` = [task], without the multi-task
    models (which need several tasks)."""
    raw["train"]["tasks"] = [task]
    raw["train"]["models"] = [m for m in raw["train"]["models"] if not MODEL_KINDS[m].multitask]
    return raw


def make_job(raw: dict, reynolds_number: float = 40.0, seed: int = 11, **simulate) -> SimulationJob:
    """A periodic SimulationJob from a raw config, with simulate keys overridden (in a study of
    super-resolution only, without held-out boundaries: a trajectory too short for forecasting,
    or a time step too long for the wall-bounded solver, is still a periodic trajectory)."""
    raw = copy.deepcopy(raw)
    raw["simulate"].update(simulate)
    only_task(raw, "sr")
    raw["held_out_boundary"]["boundaries"] = []
    study = load_study(raw, SCHEMA)
    return SimulationJob(study.physics, study.simulate, reynolds_number, seed)


def simulate_execution(raw: dict, **overrides) -> SimulateExecution:
    """The simulate stage's execution settings of a raw config, with keys overridden."""
    return SimulateExecution(**{**raw["execution"]["simulate"], **overrides})


LINKED = ["Snakefile", "workflow", "config", "envs", "profiles", "slurm", "src"]
"""What a scratch workflow directory links from the repository."""


def link_workflow(directory: Path) -> Path:
    for name in LINKED:
        (directory / name).symlink_to(ROOT / name)
    return directory


def snakemake_env() -> dict[str, str]:
    """The environment of a Snakemake run: this interpreter's bin/ first on PATH, for the jobs."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run `python -m snakemake ARGS` in `workdir`; fail with its output unless check=False."""
    env = snakemake_env()
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=workdir, capture_output=True, text=True,
        env=env, timeout=1800,
    )  # fmt: skip
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="session")
def tiny_results(tmp_path_factory) -> Path:
    """The tiny study run once for the session by the real workflow (every stage that exists)."""
    workdir = link_workflow(tmp_path_factory.mktemp("tiny_workflow"))
    snakemake(workdir, "--cores", "2", "--configfile", str(TINY))
    return workdir


def with_the_tiny_results(tiny_results: Path, workdir: Path) -> Path:
    """`workdir` given the tiny study's results and Snakemake's records of them."""
    shutil.copytree(tiny_results / "results", workdir / "results")
    shutil.copytree(tiny_results / ".snakemake/metadata", workdir / ".snakemake/metadata")
    return workdir


def clone_of_this_code(destination: Path) -> Path:
    """`git clone` of this repository plus its uncommitted edits and untracked files: the same
    code with fresh time stamps (in CI, a clean checkout, this is the clone itself)."""
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(destination)], check=True)
    diff = subprocess.run(["git", "-C", str(ROOT), "diff", "HEAD", "--binary"],
                          capture_output=True, check=True).stdout  # fmt: skip
    if diff.strip():
        subprocess.run(["git", "-C", str(destination), "apply", "--whitespace=nowarn"],
                       input=diff, check=True)  # fmt: skip
    untracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--others", "--exclude-standard", "-z"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, untracked):
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, destination / name)
    return destination


@pytest.fixture(scope="session")
def cloned_study(tiny_results, tmp_path_factory) -> Path:
    """A fresh clone holding the tiny study's results and Snakemake's records of them."""
    return with_the_tiny_results(
        tiny_results, clone_of_this_code(tmp_path_factory.mktemp("clone") / "flex")
    )
