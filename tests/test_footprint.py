"""`flex plan`: the predicted size of every large output against the files the tiny study
actually wrote, the optimizer state a checkpoint holds against torch's own, and the paper-scale
study within its bound."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch

from flex import footprint
from flex.config.load import load_study
from flex.plan import StudyPlan
from flex.train.optim import OPTIMIZER_MOMENTS, make_optimizer
from tests.conftest import ROOT, SCHEMA, TINY, read_yaml

OVERHEAD = 128_000
"""Bytes a file may hold beyond its counted arrays: a NetCDF header with its attributes (the
provenance JSON), coordinates and chunk indices, an evaluation file's spectra."""

PER_TENSOR = 0.05
"""Share a torch file may hold beyond its tensors' bytes (a zip record and alignment per tensor:
2% for the tiny FLEX's ~900 tensors of a few kilobytes)."""


def tiny_plan() -> StudyPlan:
    return StudyPlan(load_study(read_yaml(TINY), SCHEMA))


def test_sizes_bound_the_files_of_the_tiny_study(tiny_results):
    """Every counted output exists, is at least its predicted size, and exceeds it by no more
    than a file's overhead."""
    sizes = footprint.output_sizes(tiny_plan())
    assert {path.split("/")[1] for path in sizes} == {"simulate", "coarsen", "train", "sample",
                                                      "evaluate"}  # fmt: skip
    for path, predicted in sizes.items():
        actual = (tiny_results / path).stat().st_size
        assert predicted <= actual <= predicted * (1 + PER_TENSOR) + OVERHEAD, (path, predicted,
                                                                                actual)  # fmt: skip


def test_netcdf_sizes_are_the_bytes_of_the_growing_variables(tiny_results):
    """Exactly: the predicted bytes of a NetCDF output are those of its variables along time
    (simulate, coarsen) or sample (sample, evaluate), as the file declares them. A variable
    that a stage adds and the count misses fails here."""
    import netCDF4

    for path, predicted in footprint.output_sizes(tiny_plan()).items():
        if not path.endswith(".nc"):
            continue
        with netCDF4.Dataset(tiny_results / path) as ds:
            growing = sum(v.size * v.dtype.itemsize for v in ds.variables.values()
                          if v.dimensions and v.dimensions[0] in ("time", "sample"))  # fmt: skip
        assert predicted == growing, path


def test_a_sample_file_holds_the_predicted_number_of_samples(tiny_results):
    import netCDF4

    plan = tiny_plan()
    for job in plan.jobs("sample"):
        with netCDF4.Dataset(tiny_results / job.outputs[0]) as ds:
            assert ds.dimensions["sample"].size == footprint.sample_count(job.job, plan.study)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZER_MOMENTS))
def test_the_optimizer_keeps_the_counted_moments(optimizer):
    """After one step, torch's optimizer state holds OPTIMIZER_MOMENTS tensors the size of the
    parameters (scalars such as AdamW's step count aside)."""
    defaults = tiny_plan().study.train.settings("sr", "flex")
    settings = dataclasses.replace(defaults, optimizer=optimizer)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Linear(7, 3))
    optim = make_optimizer(model.parameters(), settings)
    model(torch.randn(4, 5)).square().sum().backward()
    optim.step()
    parameters = sum(p.numel() for p in model.parameters())
    kept = sum(t.numel() for state in optim.state.values() for t in state.values()
               if torch.is_tensor(t) and t.dim() > 0)  # fmt: skip
    assert kept == OPTIMIZER_MOMENTS[optimizer] * parameters


def flex_plan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flex.cli", "plan", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_the_paper_study_fits_its_bound():
    """config/paper.yaml is sized so that no output exceeds 100 GB (the README's table)."""
    done = flex_plan("config/paper.yaml")
    assert done.returncode == 0, done.stderr
    assert "no output over 100 GB" in done.stdout
    for rule in ("simulate", "coarsen", "train", "sample", "evaluate"):
        assert f"| {rule} |" in done.stdout


def test_an_output_over_the_bound_is_named():
    done = flex_plan(str(TINY), "--bound-gb", "1e-4", "--all")  # 100 kB
    assert done.returncode == 0, done.stderr
    assert "warning: results/simulate/" in done.stdout
    assert "over 0.0001 GB" in done.stdout


def test_a_bad_config_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sample: {max_samples: -1}\n")
    done = flex_plan(str(bad))
    assert done.returncode == 1
    assert "max_samples" in done.stderr
