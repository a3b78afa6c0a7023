"""Damaged and stale files: every stage names the file it cannot use, never a library traceback,
and leaves nothing that looks complete.

Each case damages a copy of one of the tiny study's files the way disks and killed jobs do
(garbage over part of the data, truncation, a NaN, a full disk, a killed writer's temporary) and
runs the stage that reads it, as the workflow does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from flex.config import (
    CoarsenConfig,
    CoarsenExecution,
    CoarsenJob,
    EvaluateConfig,
    EvaluateExecution,
    FiguresJob,
)
from flex.config.load import load_study
from flex.errors import StageFailure
from flex.io.netcdf import FieldWriter, atomic_output, temporary_path, write_dataset
from flex.plan import StudyPlan
from tests.conftest import SCHEMA, TINY, read_yaml

TINY_RAW = read_yaml(TINY)


def _garbled(source: Path, destination: Path, fraction: float = 0.6, size: int = 4096) -> Path:
    """A copy of `source` with `size` bytes of garbage written at `fraction` of its length."""
    data = bytearray(source.read_bytes())
    start = int(len(data) * fraction)
    data[start : start + size] = np.random.default_rng(0).bytes(size)
    destination.write_bytes(bytes(data))
    return destination


def _coarsen(source: Path, output: Path) -> None:
    from flex.coarsen.run import run

    run(CoarsenJob(CoarsenConfig("subsample", 8)), CoarsenExecution(4), source, output)


def test_garbage_inside_a_simulation_is_caught_by_its_checksums(tiny_results, tmp_path):
    source = tiny_results / "results/simulate/re40_seed11.nc"
    damaged = _garbled(source, tmp_path / "re40_seed11.nc")
    with pytest.raises(StageFailure, match=r"cannot read input file .*re40_seed11\.nc"):
        _coarsen(damaged, tmp_path / "coarse.nc")
    assert not (tmp_path / "coarse.nc").exists()


def test_a_non_finite_value_is_named_with_its_file_variable_and_index(tmp_path):
    field = np.zeros((3, 16, 16), np.float32)
    field[2, 5, 7] = np.nan
    attrs = {name: {"units": "1", "long_name": name} for name in ("vorticity", "u", "v")}
    grid = np.arange(16) * 0.1
    with FieldWriter(tmp_path / "nan.nc", grid, grid, attrs) as writer:
        writer.append([0.0, 1.0, 2.0], {"vorticity": np.zeros_like(field), "u": field, "v": field})
        writer.finish({"reynolds_number": 40.0, "seed": 11})
    with pytest.raises(StageFailure, match=r"nan\.nc: u is not finite \(nan\) at time=2, y=5, x=7"):
        _coarsen(tmp_path / "nan.nc", tmp_path / "coarse.nc")
    assert not (tmp_path / "coarse.nc").exists()


def test_a_garbled_sample_file_is_named_by_the_evaluation(tiny_results, tmp_path):
    from flex.evaluate.run import run

    source = tiny_results / "results/sample/fc/flex/re40_seed13.nc"
    damaged = _garbled(source, tmp_path / "re40_seed13.nc", fraction=0.5, size=2048)
    with pytest.raises(StageFailure, match=r"re40_seed13\.nc"):
        run(EvaluateConfig(rank_stride=1), EvaluateExecution(2), damaged, tmp_path / "out.nc")
    assert not (tmp_path / "out.nc").exists()


def test_a_truncated_model_file_is_named_by_the_sampler(tiny_results, tmp_path):
    model = tiny_results / "results/train/sr/flex/model.pt"
    truncated = tmp_path / "model.pt"
    truncated.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    planned = StudyPlan(load_study(TINY_RAW, SCHEMA)).job("sample", {"name": "sr/flex/re40_seed13"})
    command = [sys.executable, "-m", "flex.sample", "--job", planned.params, "--execution",
               json.dumps(TINY_RAW["execution"]["sample"]), "--fine",
               str(tiny_results / planned.inputs["fine"]), "--coarse",
               str(tiny_results / planned.inputs["coarse"]), "--model", str(truncated),
               "--output", str(tmp_path / "out.nc")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert (
        f"cannot read model file {truncated}" in done.stderr and "rerun its training" in done.stderr
    )
    assert not (tmp_path / "out.nc").exists()


def test_a_truncated_summary_is_named_by_the_figures(tiny_results, tmp_path):
    from flex.figures.run import run

    summary = tiny_results / "results/evaluate/summary.nc"
    truncated = tmp_path / "summary.nc"
    truncated.write_bytes(summary.read_bytes()[: summary.stat().st_size // 2])
    job = FiguresJob(120, 60.0, 0, "flex", ("fig3_errors_sr",), ("sr",), 2)
    with pytest.raises(StageFailure, match=r"cannot read input file .*summary\.nc"):
        run(job, truncated, [], [], [tmp_path / "fig3_errors_sr.png"])


def test_a_full_disk_is_reported_with_the_file(tmp_path):
    """The writer's temporary file is /dev/full, where every write fails with ENOSPC."""
    output = tmp_path / "table.csv"
    temporary_path(output).symlink_to("/dev/full")
    with pytest.raises(StageFailure, match=rf"no space left on the device of {output}"):
        with atomic_output(output) as tmp, open(tmp, "w") as handle:
            handle.write("x" * 100_000)
    assert not output.exists()


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path):
    output = tmp_path / "re40_seed11.nc"
    stale = output.with_name(f".{output.name}.{os.getpid() + 1}.tmp")  # another process's
    stale.write_bytes(b"half a file")
    write_dataset(xr.Dataset({"a": ("x", np.arange(3.0))}), output, {"title": "t"})
    assert output.exists() and not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [output.name]


def test_figures_draw_only_the_models_and_tasks_asked_for(tiny_results, tmp_path):
    """A study of unet alone, super-resolution only: figures of what exists, nothing else."""
    from flex.figures.run import run

    results = tiny_results / "results"
    evaluations = sorted((results / "evaluate/sr").glob("*/re*_seed13.nc"))
    samples = sorted((results / "sample/sr/unet").glob("re*_seed13.nc"))
    samples += sorted((results / "sample/sr/bicubic").glob("re*_seed13.nc"))
    figures = ("fig1_samples_sr", "fig2_spectra_sr", "fig3_errors_sr", "fig4_calibration_sr",
               "fig9_spectral_error_sr")  # fmt: skip
    outputs = [tmp_path / f"{name}.{suffix}" for name in figures for suffix in ("png", "pdf")]
    outputs += [tmp_path / f"sr.{suffix}" for suffix in ("csv", "md", "tex")]
    job = FiguresJob(80, 60.0, 0, "unet", figures, ("sr",), 2)
    written = run(job, results / "evaluate/summary.nc", evaluations, samples, outputs)
    assert sorted(written) == sorted(outputs)
    assert sorted(tmp_path.iterdir()) == sorted(outputs)


def test_a_sample_job_refuses_a_cuda_device_where_there_is_none(tiny_results, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    from flex.config import SampleExecution, SampleJob, build
    from flex.sample.run import run

    job = build(SampleJob, {"task": "fc", "model": "persistence", "variable": "vorticity",
                            "study": "main", "reynolds_number": 40.0, "seed": 13,
                            "held_out": False, "evaluation_snapshot_stride": 3,
                            "max_samples": 2, "horizon": 1, "patch_size": 32})  # fmt: skip
    with pytest.raises(StageFailure, match=r"'execution.sample.device' = 'cuda', but torch"):
        run(job, SampleExecution("cuda", 1), tiny_results / "results/simulate/re40_seed13.nc",
            None, None, tmp_path / "out.nc")  # fmt: skip
    assert not list(tmp_path.iterdir())
