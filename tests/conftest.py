"""Shared fixtures: the repository root, the study configs and a tiny simulation job."""

from __future__ import annotations

import copy
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
