"""Shared fixtures: the repository root, the study configs and a tiny simulation job."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flex.config import SimulationJob, load_study

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


def make_job(raw: dict, reynolds_number: float = 40.0, seed: int = 11, **simulate) -> SimulationJob:
    """A SimulationJob from a raw config, with simulate keys overridden."""
    raw = copy.deepcopy(raw)
    raw["simulate"].update(simulate)
    study = load_study(raw, SCHEMA)
    return SimulationJob(study.physics, study.simulate, reynolds_number, seed)


LINKED = ["Snakefile", "workflow", "config", "profiles", "slurm", "src"]
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
