"""The simulate stage: NetCDF contract, provenance, reproducibility, blow-up and resolution checks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from flex import dims
from flex.config import to_dict
from flex.io.netcdf import TIME_UNITS
from flex.simulate.run import SimulationBlowUp, UnderResolvedWarning, run
from tests.conftest import make_job, simulate_execution

PHYSICAL_ATTRS = ["reynolds_number", "viscosity", "drag", "forcing_wavenumber",
                  "forcing_amplitude", "domain_length", "grid_size", "time_step", "seed",
                  "save_interval", "spinup_time", "jax_threefry_partitionable",
                  "jax_enable_x64", "jax_default_prng_impl", "under_resolved"]  # fmt: skip
GLOBAL_ATTRS = ["Conventions", "title", "source", "history", "references", "config"]


@pytest.fixture(scope="module")
def tiny_raw():
    from tests.conftest import TINY, read_yaml

    return read_yaml(TINY)


@pytest.fixture(scope="module")
def trajectory(tiny_raw, tmp_path_factory):
    job = make_job(tiny_raw, reynolds_number=40.0, seed=11)
    path = tmp_path_factory.mktemp("sim") / "re40_seed11.nc"
    run(job, simulate_execution(tiny_raw), path, progress=False)
    return job, path


def test_file_follows_the_data_contract(trajectory):
    job, path = trajectory
    with xr.open_dataset(path, decode_times=False) as ds:
        for name in ("vorticity", "u", "v"):
            var = ds[name]
            assert var.dims == dims.FIELD_DIMS
            assert var.dtype == np.float32
            assert var.attrs["units"] and var.attrs["long_name"]
            assert np.isfinite(var.values).all()
        n = job.simulate.grid_size
        assert ds.sizes == {"time": job.simulate.num_snapshots, "y": n, "x": n}
        assert ds.time.attrs["axis"] == "T" and ds.time.attrs["standard_name"] == "time"
        assert ds.time.attrs["units"] == TIME_UNITS  # CF time; tests/test_cf.py decodes it
        for coord in ("y", "x"):
            assert "units" in ds[coord].attrs and "axis" not in ds[coord].attrs  # CF 5.6
        np.testing.assert_allclose(np.diff(ds.time), job.simulate.save_interval, rtol=1e-9)
        assert ds.time.values[0] > job.simulate.spinup_time  # spin-up discarded
        np.testing.assert_allclose(ds.x, np.arange(n) * job.physics.domain_length / n)
        for key in GLOBAL_ATTRS + PHYSICAL_ATTRS:
            assert key in ds.attrs, key
        assert ds.attrs["reynolds_number"] == 40.0 and ds.attrs["viscosity"] == 1 / 40.0
        assert json.loads(ds.attrs["config"]) == to_dict(job)
        assert "jax-cfd 0.2.1" in ds.attrs["source"]


def test_vorticity_is_the_curl_of_the_stored_velocity(trajectory):
    """Independent check of the layout (y, x): omega = dv/dx - du/dy, spectrally on the stored grid."""
    _, path = trajectory
    with xr.open_dataset(path) as ds:
        u, v, omega = (
            ds[n].isel(time=-1).values.astype(np.float64) for n in ("u", "v", "vorticity")
        )
        length = ds.attrs["domain_length"]
    k = np.fft.fftfreq(u.shape[0], d=length / u.shape[0]) * 2 * np.pi
    ky, kx = np.meshgrid(k, k, indexing="ij")  # axis 0 is y, axis 1 is x
    curl = np.fft.ifft2(1j * kx * np.fft.fft2(v) - 1j * ky * np.fft.fft2(u)).real
    np.testing.assert_allclose(curl, omega, atol=1e-4 * np.abs(omega).max())


def test_same_seed_gives_identical_data_other_seed_does_not(trajectory, tiny_raw, tmp_path):
    """Bit for bit, whatever the chunk size (an execution setting, not a parameter)."""
    job, path = trajectory
    chunk = tiny_raw["execution"]["simulate"]["snapshots_per_chunk"] + 2
    again = run(job, simulate_execution(tiny_raw, snapshots_per_chunk=chunk),
                tmp_path / "again.nc", progress=False)  # fmt: skip
    other = run(make_job(tiny_raw, 40.0, seed=12), simulate_execution(tiny_raw),
                tmp_path / "other.nc", progress=False)  # fmt: skip
    with xr.open_dataset(path) as a, xr.open_dataset(again) as b, xr.open_dataset(other) as c:
        for name in ("vorticity", "u", "v", "kinetic_energy"):
            assert np.array_equal(a[name].values, b[name].values), name  # bit for bit
        assert {k: v for k, v in a.attrs.items() if k not in ("history", "execution")} == {
            k: v for k, v in b.attrs.items() if k not in ("history", "execution")
        }
        assert json.loads(b.attrs["execution"]) == {"device": "auto", "snapshots_per_chunk": chunk}
        assert not np.allclose(a.vorticity.values, c.vorticity.values)


def test_a_shorter_trajectory_is_the_start_of_the_longer_one(trajectory, tiny_raw, tmp_path):
    """An evaluation trajectory of fewer snapshots (`simulate.evaluation_num_snapshots`) holds,
    bit for bit, the first snapshots of the same run made longer: the count changes no step."""
    job, path = trajectory
    count = job.simulate.num_snapshots // 2
    shorter = run(make_job(tiny_raw, 40.0, seed=11, num_snapshots=count),
                  simulate_execution(tiny_raw), tmp_path / "short.nc", progress=False)  # fmt: skip
    with (
        xr.open_dataset(path, decode_times=False) as a,
        xr.open_dataset(shorter, decode_times=False) as b,
    ):
        assert b.sizes["time"] == count
        for name in ("time", "vorticity", "u", "v", "kinetic_energy", "courant_number"):
            assert np.array_equal(a[name].values[:count], b[name].values), name


def test_blow_up_names_the_run_and_leaves_no_file(tiny_raw, tmp_path):
    job = make_job(tiny_raw, reynolds_number=160.0, seed=11, time_step=0.2, spinup_time=0.0)
    output = tmp_path / "blowup.nc"
    with pytest.raises(SimulationBlowUp, match=r"Re=160, seed=11, by step \d+ \(t=") as info:
        run(job, simulate_execution(tiny_raw), output, progress=False)
    assert "Courant" in str(info.value) or "non-finite" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # neither the output nor a temporary file


def test_under_resolved_run_is_flagged(tiny_raw, tmp_path):
    job = make_job(tiny_raw, reynolds_number=240.0, seed=13)
    with pytest.warns(UnderResolvedWarning, match="under-resolved"):
        run(job, simulate_execution(tiny_raw), tmp_path / "coarse.nc", progress=False)
    with xr.open_dataset(tmp_path / "coarse.nc") as ds:
        assert ds.attrs["under_resolved"] == 1
        assert (
            ds.attrs["band_enstrophy_fraction_max"] > job.simulate.resolution_max_enstrophy_fraction
        )
    resolved = make_job(tiny_raw, reynolds_number=40.0, seed=13)
    run(resolved, simulate_execution(tiny_raw), tmp_path / "fine.nc", progress=False)
    with xr.open_dataset(tmp_path / "fine.nc") as ds:
        assert ds.attrs["under_resolved"] == 0


def test_cli_writes_the_file_and_reports_a_blow_up_without_traceback(tiny_raw, tmp_path):
    job = make_job(tiny_raw, reynolds_number=40.0, seed=11, num_snapshots=2)
    output = tmp_path / "cli.nc"
    execution = json.dumps(tiny_raw["execution"]["simulate"])
    command = [sys.executable, "-m", "flex.simulate", "--no-progress", "--execution", execution,
               "--output", str(output)]  # fmt: skip
    done = subprocess.run(
        [*command, "--job", json.dumps(to_dict(job))], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert output.exists()
    bad = make_job(tiny_raw, 160.0, seed=11, time_step=0.2, spinup_time=0.0)
    failed = subprocess.run(
        [*command[:-1], str(tmp_path / "bad.nc"), "--job", json.dumps(to_dict(bad))],
        capture_output=True, text=True,
    )  # fmt: skip
    assert failed.returncode == 1
    assert "Re=160, seed=11" in failed.stderr and "Traceback" not in failed.stderr
    assert not (tmp_path / "bad.nc").exists()
    unknown = subprocess.run(
        [*command, "--job", json.dumps({**to_dict(job), "colour": "red"})],
        capture_output=True, text=True,
    )  # fmt: skip
    assert unknown.returncode == 1 and "unknown key 'job.colour'" in unknown.stderr
