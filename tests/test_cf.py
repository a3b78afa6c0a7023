"""Every stage's NetCDF files pass the IOOS compliance checker (CF 1.10) without a high-priority
error, and their time axis decodes as CF time (an independent reader: cftime via netCDF4).

The checker is an independent reference: it reads the files with its own rules (UDUNITS units,
coordinate and time-axis conventions), not with this project's code.
"""

from __future__ import annotations

import json

import netCDF4
import numpy as np
import pytest

from flex.io.netcdf import TIME_UNITS

pytestmark = pytest.mark.slow

STAGE_FILES = {
    "simulate": "results/simulate/re40_seed13.nc",
    "coarsen": "results/coarsen/re40_seed13.nc",
    "training_statistics": "results/coarsen/training_statistics.nc",
    "sample sr": "results/sample/sr/flex/re40_seed13.nc",
    "sample fc": "results/sample/fc/flex/re40_seed13.nc",
    "evaluate sr": "results/evaluate/sr/flex/re40_seed13.nc",
    "evaluate fc": "results/evaluate/fc/flex/re40_seed13.nc",
    "summary": "results/evaluate/summary.nc",
}
"""One file of each stage that writes NetCDF (train writes model.pt, history.csv and job.json)."""


def _failures(report: dict) -> list[str]:
    """Names and messages of the failed checks of one priority list of the JSON report."""
    return [f"{check['name']}: {'; '.join(check['msgs'])}" for check in report
            if check["value"][0] < check["value"][1]]  # fmt: skip


@pytest.mark.parametrize("stage", sorted(STAGE_FILES))
def test_no_high_priority_cf_error(stage, tiny_results, tmp_path):
    from compliance_checker.runner import CheckSuite, ComplianceChecker

    CheckSuite.load_all_available_checkers()
    path = tiny_results / STAGE_FILES[stage]
    assert path.exists(), path
    output = tmp_path / "report.json"
    ComplianceChecker.run_checker(str(path), ["cf:1.10"], verbose=0, criteria="normal",
                                  output_filename=str(output), output_format="json")  # fmt: skip
    report = json.loads(output.read_text())["cf:1.10"]
    assert report["possible_points"] > 0
    assert _failures(report["high_priorities"]) == []


def test_coordinates_have_no_fill_value(tiny_results):
    for stage, relative in STAGE_FILES.items():
        with netCDF4.Dataset(tiny_results / relative) as ds:
            for name in ds.dimensions:
                if name in ds.variables:
                    assert "_FillValue" not in ds[name].ncattrs(), (stage, name)


@pytest.mark.parametrize("stage", ["simulate", "coarsen"])
def test_time_axis_decodes_as_cf_time_one_day_per_time_unit(stage, tiny_results, tiny_config):
    with netCDF4.Dataset(tiny_results / STAGE_FILES[stage]) as ds:
        time = ds["time"]
        assert time.units == TIME_UNITS and time.standard_name == "time"
        values = time[:].data
        dates = netCDF4.num2date(values, time.units, time.calendar,
                                 only_use_cftime_datetimes=True)  # fmt: skip
    interval = tiny_config["simulate"]["save_interval"]
    days = np.array([(d - dates[0]).total_seconds() / 86400 for d in dates])
    np.testing.assert_allclose(days, values - values[0], atol=1e-9)
    # whole seconds apart (tools such as cdo show time stamps to the second)
    assert np.all(np.diff(days) * 86400 >= 1)
    np.testing.assert_allclose(np.diff(days), interval, rtol=1e-6)
