"""The evaluate stage and the summary on the tiny study: contract, and values recomputed directly."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import xarray as xr

from flex import dims
from flex.evaluate import calibration, errors


def test_evaluation_file_follows_the_data_contract_and_recomputes(tiny_results):
    sample = tiny_results / "results/sample/sr/flex/re80_seed13.nc"
    evaluation = tiny_results / "results/evaluate/sr/flex/re80_seed13.nc"
    with xr.open_dataset(sample) as s, xr.open_dataset(evaluation) as e:
        for name in ("rfne", "crps", "spread", "skill", "spread_skill_ratio"):
            assert e[name].dims == (dims.SAMPLE,) and e[name].attrs["long_name"]
        assert e.rank_histogram.dims == (dims.RANK_BIN,)
        assert e.rank_histogram.size == s.sizes[dims.MEMBER] + 1
        assert e.energy_spectrum_target.dims == (dims.WAVENUMBER,)
        assert "energy_spectrum_prediction" in e and "enstrophy_spectrum_target" in e
        ensemble = s.prediction.values.astype(np.float64)
        truth = s.target.values.astype(np.float64)
        np.testing.assert_allclose(e.rfne, errors.rfne(ensemble.mean(1), truth), rtol=1e-10)
        np.testing.assert_allclose(e.crps, calibration.crps(ensemble, truth).mean((-2, -1)),
                                   rtol=1e-10)  # fmt: skip
        pooled = np.linalg.norm(ensemble.mean(1) - truth) / np.linalg.norm(truth)
        assert float(e.rfne_pooled) == pytest.approx(pooled, rel=1e-10)
        assert e.attrs["reynolds_number"] == 80.0 and e.attrs["split"] == "in_distribution"


def test_forecast_evaluation_has_leads_and_both_feedbacks(tiny_results):
    with xr.open_dataset(tiny_results / "results/evaluate/fc/flex/re60_seed13.nc") as e:
        assert e.rfne.dims == (dims.SAMPLE, dims.LEAD)
        assert e.pearson.dims == (dims.SAMPLE, dims.LEAD)
        assert "rfne_member_feedback" in e and e.rank_histogram.dims == (dims.LEAD, dims.RANK_BIN)
        assert e.attrs["split"] == "held_out"


def test_pooled_spread_skill_of_both_forecast_rollouts_recomputes(tiny_results):
    """sqrt((M+1)/M sum of variances / sum of squared errors) per lead, from the sample file, for
    the mean-feedback and the member-feedback rollouts; at the first lead they are one ensemble."""
    name = "fc/flex/re60_seed13.nc"
    sample, evaluation = (tiny_results / f"results/{stage}/{name}" for stage in ("sample",
                                                                                 "evaluate"))  # fmt: skip
    with xr.open_dataset(sample) as s, xr.open_dataset(evaluation) as e:
        truth = s.target.values.astype(np.float64)
        members = s.sizes[dims.MEMBER]
        for predicted, pooled in (("prediction", "spread_skill_ratio_pooled"),
                                  ("prediction_member_feedback",
                                   "spread_skill_ratio_pooled_member_feedback")):  # fmt: skip
            ensemble = s[predicted].values.astype(np.float64)  # (S, M, L, y, x)
            variance = ensemble.var(axis=1, ddof=1).sum(axis=(0, 2, 3))
            error = ((ensemble.mean(axis=1) - truth) ** 2).sum(axis=(0, 2, 3))
            expected = np.sqrt((members + 1) / members * variance / error)
            assert e[pooled].dims == (dims.LEAD,)
            np.testing.assert_allclose(e[pooled].values, expected, rtol=1e-10)
        assert float(e.spread_skill_ratio_pooled_member_feedback[0]) == pytest.approx(
            float(e.spread_skill_ratio_pooled[0]), rel=1e-12)  # fmt: skip


def test_summary_has_one_row_per_task_model_reynolds_split_sampler_and_lead(tiny_results):
    with open(tiny_results / "results/evaluate/summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    keys = [(r["task"], r["model"], r["variable"], r["reynolds_number"], r["split"], r["study"],
             r["sampling_steps"], r["eta"], r["lead"]) for r in rows]  # fmt: skip
    assert len(keys) == len(set(keys))
    assert {r["split"] for r in rows if r["study"] != "boundary"} == {"in_distribution",
                                                                        "held_out"}  # fmt: skip
    assert {r["split"] for r in rows if r["study"] == "boundary"} == {
        "held_out_boundary",
        "held_out_boundary_wall",
    }  # every tiny patch touches a wall
    assert {r["model"] for r in rows if r["task"] == "sr"} >= {"flex", "bicubic", "unet",
                                                               "flex_raw", "regression"}  # fmt: skip
    assert {r["model"] for r in rows if r["task"] == "fc"} >= {"flex", "persistence"}
    with xr.open_dataset(tiny_results / "results/evaluate/summary.nc") as table:
        assert table.sizes["row"] == len(rows)
