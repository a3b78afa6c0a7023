"""Where each stage's files live (../shared/design.md section 2), for the workflow and the code."""

from __future__ import annotations

from pathlib import Path

from flex.config import reynolds_label


def simulation_file(reynolds_number: float, seed: int, results: str | Path = "results") -> Path:
    return Path(results) / "simulate" / f"re{reynolds_label(reynolds_number)}_seed{seed}.nc"


def coarse_file(reynolds_number: float, seed: int, results: str | Path = "results") -> Path:
    return Path(results) / "coarsen" / f"re{reynolds_label(reynolds_number)}_seed{seed}.nc"


def statistics_file(results: str | Path = "results") -> Path:
    return Path(results) / "coarsen" / "training_statistics.nc"


def train_directory(task: str, model: str, results: str | Path = "results") -> Path:
    return Path(results) / "train" / task / model
