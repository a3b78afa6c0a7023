"""The held-out boundary downstream of the simulation: which patches touch a wall, the sample
stage refusing a trajectory of the other boundary, and the summary's scores by wall region."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from flex import dims
from flex.config import WALL_REGIONS
from flex.errors import StageFailure
from flex.io.netcdf import write_dataset
from flex.sample.run import touches_wall
from flex.summary.run import rows_of


def test_a_patch_touches_a_wall_when_it_holds_the_first_or_last_row():
    corners = np.array([0, 16, 32, 48])
    np.testing.assert_array_equal(touches_wall("channel", corners, 16, 64), [1, 0, 0, 1])
    np.testing.assert_array_equal(touches_wall("channel", corners[::2], 32, 64), [1, 1])
    np.testing.assert_array_equal(touches_wall("periodic", corners, 16, 64), [0, 0, 0, 0])


def evaluation_file(path, walls, rfne, split="held_out_boundary"):
    """A minimal evaluation file: per-sample rfne and crps, a pooled rfne, the wall flags."""
    samples = len(walls)
    data = {
        "rfne": ((dims.SAMPLE,), np.asarray(rfne, dtype=float), {"units": "1"}),
        "crps": ((dims.SAMPLE,), 2 * np.asarray(rfne, dtype=float), {"units": "1"}),
        "rfne_pooled": ((), 0.123, {"units": "1"}),
        "touches_wall": ((dims.SAMPLE,), np.asarray(walls, dtype=np.int8), {"units": "1"}),
    }
    attrs = {"task": "sr", "model": "flex", "variable": "vorticity", "reynolds_number": 60.0,
             "split": split, "study": "boundary", "sampling_steps": 2, "eta": 0.0,
             "ensemble_size": 3}  # fmt: skip
    write_dataset(xr.Dataset(data, coords={dims.SAMPLE: np.arange(samples)}), path, attrs)
    return path


def test_summary_scores_the_wall_and_interior_patches_apart(tmp_path):
    path = evaluation_file(tmp_path / "e.nc", walls=[1, 0, 0, 1, 0], rfne=[0.5, 0.1, 0.2, 0.7, 0.3])
    rows = {row["split"]: row for row in rows_of(path)}
    assert set(rows) == {"held_out_boundary", *(f"held_out_boundary_{r}" for r in WALL_REGIONS)}
    assert rows["held_out_boundary"]["rfne"] == pytest.approx(0.36)
    assert rows["held_out_boundary_wall"]["rfne"] == pytest.approx(0.6)
    assert rows["held_out_boundary_interior"]["rfne"] == pytest.approx(0.2)
    assert rows["held_out_boundary_interior"]["crps"] == pytest.approx(0.4)
    assert rows["held_out_boundary"]["rfne_pooled"] == pytest.approx(0.123)
    assert np.isnan(rows["held_out_boundary_wall"]["rfne_pooled"])  # pooled scores not split


def test_summary_leaves_out_an_empty_region_and_the_periodic_files_alone(tmp_path):
    path = evaluation_file(tmp_path / "a.nc", walls=[1, 1], rfne=[0.5, 0.1])
    assert [row["split"] for row in rows_of(path)] == ["held_out_boundary",
                                                        "held_out_boundary_wall"]  # fmt: skip
    path = evaluation_file(tmp_path / "p.nc", walls=[0, 0], rfne=[0.5, 0.1], split="held_out")
    assert [row["split"] for row in rows_of(path)] == ["held_out"]


def test_the_sample_stage_refuses_a_trajectory_of_another_boundary(tiny_results, tmp_path):
    import dataclasses

    from flex.config.load import load_study
    from flex.plan import StudyPlan
    from flex.sample.run import run
    from tests.conftest import SCHEMA, TINY, read_yaml

    plan = StudyPlan(load_study(read_yaml(TINY), SCHEMA))
    job = plan.job("sample", {"name": "sr/bicubic/channel/re60_seed13"}).job
    periodic = tiny_results / "results/simulate/re60_seed13.nc"
    coarse = tiny_results / "results/coarsen/re60_seed13.nc"
    execution = plan.study.execution.sample
    with pytest.raises(StageFailure, match="is a periodic trajectory; the job samples a channel"):
        run(job, execution, periodic, coarse, None, tmp_path / "x.nc", progress=False)
    channel = tiny_results / "results/simulate/channel/re60_seed13.nc"
    with pytest.raises(StageFailure, match="is a channel trajectory; the job samples a periodic"):
        run(dataclasses.replace(job, boundary="periodic"), execution, channel,
            tiny_results / "results/coarsen/channel/re60_seed13.nc", None, tmp_path / "y.nc",
            progress=False)  # fmt: skip
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_flex_walls_fine_tunes_on_wall_bounded_runs_through_the_workflow(tiny_results, tmp_path):
    """The tiny study, super-resolution only, plus `flex_walls` fine-tuned from `flex` on the
    channel runs at a training Re and its control `flex_continued` fine-tuned the same way on the
    periodic runs: only the new jobs run (the periodic models are reused), both start from flex's
    weights, each learns from its own files only, and both are scored between walls and in the
    box, with their claims in the claims table."""
    import yaml

    from tests.conftest import (
        TINY,
        link_workflow,
        only_task,
        read_yaml,
        snakemake,
        with_the_tiny_results,
    )

    (tmp_path / "workflow").mkdir()
    workdir = with_the_tiny_results(tiny_results, link_workflow(tmp_path / "workflow"))
    raw = only_task(read_yaml(TINY), "sr")
    raw["train"]["models"] = ["flex", "flex_walls", "flex_continued"]
    raw["held_out_boundary"]["reynolds_numbers"] = [60, 160]
    raw["train"]["overrides"] = {f"sr/{model}": {"init_from": "flex", "steps": 4}
                                 for model in ("flex_walls", "flex_continued")}  # fmt: skip
    config = tmp_path / "walls.yaml"
    config.write_text(yaml.safe_dump(raw))
    flex_model = workdir / "results/train/sr/flex/model.pt"
    before = flex_model.stat().st_mtime_ns
    snakemake(workdir, "--cores", "2", "--configfile", str(config))
    assert flex_model.stat().st_mtime_ns == before  # the periodic model is not retrained
    summary = xr.open_dataset(workdir / "results/evaluate/summary.nc")
    for model, boundaries in (("flex_walls", ["channel"]), ("flex_continued", ["periodic"])):
        log = (workdir / f"logs/train/sr_{model}.log").read_text()
        assert "starting from the weights of results/train/sr/flex/model.pt" in log
        job = json.loads((workdir / f"results/train/sr/{model}/job.json").read_text())
        assert job["job"]["boundaries"] == boundaries
        walled = summary.where((summary.model == model) & (summary.study == "boundary"),
                               drop=True)  # fmt: skip
        assert sorted(set(walled.reynolds_number.values.tolist())) == [60.0, 160.0]
    claims = (workdir / "results/tables/claims.md").read_text()
    assert "training on walls (flex_walls) beats zero-shot flex" in claims
    assert "beats the same training in the box (flex_continued)" in claims
