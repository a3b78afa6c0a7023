"""Coarse-graining: single Fourier modes against closed forms, and the stage's file."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from flex.coarsen.methods import box_average, coarse_coordinates, spectral_cutoff, subsample
from flex.config import CoarsenConfig, CoarsenExecution, CoarsenJob

N, FACTOR = 64, 8
M = N // FACTOR  # coarse points per axis
X = np.arange(N) * 2 * np.pi / N


def mode(kx: int, ky: int, phase: float = 0.3) -> np.ndarray:
    """cos(kx x + ky y + phase) on the fine grid, indexed (y, x)."""
    y, x = np.meshgrid(X, X, indexing="ij")
    return np.cos(kx * x + ky * y + phase)


def on_coarse(kx: int, ky: int, method: str, phase: float = 0.3) -> np.ndarray:
    xc = coarse_coordinates(X, FACTOR, method)
    y, x = np.meshgrid(xc, xc, indexing="ij")
    return np.cos(kx * x + ky * y + phase)


@pytest.mark.parametrize(("kx", "ky"), [(1, 0), (3, 2), (M // 2 - 1, 1)])
def test_resolved_mode_is_kept_by_subsampling_and_cutoff(kx, ky):
    field = mode(kx, ky)
    np.testing.assert_allclose(subsample(field, FACTOR), on_coarse(kx, ky, "subsample"), atol=1e-12)
    np.testing.assert_allclose(spectral_cutoff(field, FACTOR), on_coarse(kx, ky, "subsample"),
                               atol=1e-12)  # fmt: skip


@pytest.mark.parametrize("k0", [0, 1, 3])
def test_subsampling_aliases_mode_m_plus_k_onto_k(k0):
    field = mode(M + k0, 0)
    np.testing.assert_allclose(subsample(field, FACTOR), on_coarse(k0, 0, "subsample"), atol=1e-12)


@pytest.mark.parametrize(("kx", "ky"), [(M // 2, 0), (M + 1, 0), (2, M // 2 + 3), (N // 2 - 1, 5)])
def test_spectral_cutoff_removes_modes_at_and_above_the_coarse_nyquist(kx, ky):
    assert np.abs(spectral_cutoff(mode(kx, ky), FACTOR)).max() < 1e-12


@pytest.mark.parametrize(("kx", "ky"), [(1, 0), (3, 2), (5, 7), (M + 1, 0)])
def test_box_average_attenuates_by_the_dirichlet_kernel(kx, ky):
    dx = X[1]

    def dirichlet(k: int) -> float:
        return 1.0 if k == 0 else np.sin(k * FACTOR * dx / 2) / (FACTOR * np.sin(k * dx / 2))

    expected = dirichlet(kx) * dirichlet(ky) * on_coarse(kx, ky, "box_average")
    np.testing.assert_allclose(box_average(mode(kx, ky), FACTOR), expected, atol=1e-12)


def test_box_average_keeps_the_mean_exactly():
    rng = np.random.default_rng(0)
    field = rng.normal(size=(3, N, N)) + 2.5
    np.testing.assert_allclose(box_average(field, FACTOR).mean(axis=(-2, -1)),
                               field.mean(axis=(-2, -1)), rtol=1e-13)  # fmt: skip


@pytest.mark.parametrize("method", ["subsample", "spectral_cutoff", "box_average"])
def test_coarse_file_grid_coordinates_and_labels(method, tmp_path):
    from flex.coarsen.run import run
    from flex.io.netcdf import write_dataset

    fine = xr.Dataset(
        {name: (("time", "y", "x"), np.stack([mode(1, 2), mode(2, 1)]).astype(np.float32),
                {"units": "1", "long_name": name}) for name in ("vorticity", "u", "v")},
        coords={"time": [0.0, 1.0], "y": X, "x": X},
    )  # fmt: skip
    write_dataset(fine, tmp_path / "fine.nc", {"reynolds_number": 1.0, "seed": 0})
    run(_job(method), CoarsenExecution(1), tmp_path / "fine.nc", tmp_path / "coarse.nc")
    with xr.open_dataset(tmp_path / "coarse.nc") as coarse:
        assert coarse.vorticity.shape == (2, M, M) and coarse.vorticity.dtype == np.float32
        np.testing.assert_allclose(coarse.x, coarse_coordinates(X, FACTOR, method))
        np.testing.assert_allclose(coarse.y[1] - coarse.y[0], FACTOR * X[1])
        assert coarse.vorticity.attrs["coarsen_method"] == method
        assert f"x{FACTOR}" in coarse.vorticity.attrs["long_name"]
        assert coarse.attrs["reynolds_number"] == 1.0 and coarse.attrs["coarsen_factor"] == FACTOR
        expected = {"subsample": subsample, "spectral_cutoff": spectral_cutoff,
                    "box_average": box_average}[method](fine.vorticity.values, FACTOR)  # fmt: skip
        np.testing.assert_array_equal(coarse.vorticity.values, expected)


def _job(method: str) -> CoarsenJob:
    return CoarsenJob(CoarsenConfig(method, FACTOR))


def test_stage_file_of_the_tiny_study(tiny_results):
    fine_path = tiny_results / "results/simulate/re80_seed12.nc"
    with xr.open_dataset(fine_path) as fine, \
         xr.open_dataset(tiny_results / "results/coarsen/re80_seed12.nc") as coarse:  # fmt: skip
        factor = coarse.attrs["coarsen_factor"]
        assert coarse.attrs["coarsen_method"] == "subsample"
        for name in ("vorticity", "u", "v"):
            np.testing.assert_array_equal(
                coarse[name].values, fine[name].values[:, ::factor, ::factor]
            )
            assert coarse[name].attrs["units"] == "1"
        np.testing.assert_array_equal(coarse.time, fine.time)
        assert coarse.attrs["reynolds_number"] == 80.0 and coarse.attrs["seed"] == 12
        assert coarse.attrs["Conventions"].startswith("CF-") and "config" in coarse.attrs


def test_a_truncated_input_is_named_in_a_clear_error(tiny_results, tmp_path):
    from flex.coarsen.run import run
    from flex.errors import StageFailure

    source = tiny_results / "results/simulate/re40_seed11.nc"
    broken = tmp_path / "re40_seed11.nc"
    broken.write_bytes(source.read_bytes()[: source.stat().st_size // 3])
    with pytest.raises(StageFailure, match=r"cannot read input file .*re40_seed11.nc .*truncated"):
        run(_job("subsample"), CoarsenExecution(4), broken, tmp_path / "out.nc")
    with pytest.raises(StageFailure, match="does not exist"):
        run(_job("subsample"), CoarsenExecution(4), tmp_path / "missing.nc", tmp_path / "out.nc")
    assert not (tmp_path / "out.nc").exists()


def test_the_stage_reads_files_stored_in_spatial_tiles(tmp_path):
    """Large grids are stored in tiles (simulate.storage_tile); the stage must still see whole
    snapshots."""
    from flex.coarsen.run import run
    from flex.io.netcdf import FieldWriter

    field = np.stack([mode(1, 2), mode(3, 1), mode(2, 2)]).astype(np.float32)
    attrs = {name: {"units": "1", "long_name": name} for name in ("vorticity", "u", "v")}
    with FieldWriter(tmp_path / "tiled.nc", X, X, attrs, tile=16) as w:
        w.append([0.0, 1.0, 2.0], {"vorticity": field, "u": field, "v": field})
        w.finish({"reynolds_number": 1.0, "seed": 0})
    run(_job("subsample"), CoarsenExecution(2), tmp_path / "tiled.nc", tmp_path / "coarse.nc")
    with xr.open_dataset(tmp_path / "coarse.nc") as ds:
        np.testing.assert_array_equal(ds.vorticity.values, field[:, ::FACTOR, ::FACTOR])


@pytest.mark.parametrize("method", ["subsample", "spectral_cutoff", "box_average"])
def test_the_chunk_size_does_not_change_the_coarse_fields(tiny_results, tmp_path, method):
    """`execution.coarsen.snapshots_per_chunk` is an execution setting: bit-identical output."""
    from flex.coarsen.run import run

    source = tiny_results / "results/simulate/re80_seed12.nc"
    outputs = []
    for chunk in (1, 5, 64):
        outputs.append(tmp_path / f"chunk{chunk}.nc")
        run(_job(method), CoarsenExecution(chunk), source, outputs[-1])
    with xr.open_dataset(outputs[0]) as first:
        for other in outputs[1:]:
            with xr.open_dataset(other) as ds:
                for name in ("vorticity", "u", "v"):
                    np.testing.assert_array_equal(ds[name].values, first[name].values)
