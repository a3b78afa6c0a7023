"""Atomic NetCDF writing: nothing that looks complete is left by a failed or unfinished writer."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from flex.io.netcdf import FieldWriter, write_dataset
from flex.io.provenance import provenance_attrs

VARIABLES = {"vorticity": {"long_name": "vorticity", "units": "1"}}


def _writer(path):
    coords = np.arange(4.0)
    return FieldWriter(path, coords, coords, VARIABLES)


def test_streamed_chunks_are_appended_in_order_and_attributes_come_last(tmp_path):
    path = tmp_path / "out.nc"
    chunks = [np.full((2, 4, 4), i, dtype=np.float32) for i in range(3)]
    with _writer(path) as writer:
        for i, chunk in enumerate(chunks):
            writer.append([2 * i, 2 * i + 1], {"vorticity": chunk})
            assert not path.exists()  # only the temporary file exists while writing
        writer.finish(provenance_attrs("test", {"a": 1}, reynolds_number=10.0, flag=True))
    with xr.open_dataset(path, decode_times=False) as ds:
        np.testing.assert_array_equal(ds.vorticity.values, np.concatenate(chunks))
        np.testing.assert_array_equal(ds.time.values, np.arange(6.0))
        assert ds.attrs["Conventions"].startswith("CF-") and ds.attrs["flag"] == 1
        assert ds.attrs["config"] == '{"a": 1}' and ds.attrs["reynolds_number"] == 10.0
    assert list(tmp_path.iterdir()) == [path]


def test_an_exception_while_writing_leaves_nothing(tmp_path):
    with pytest.raises(ZeroDivisionError), _writer(tmp_path / "out.nc") as writer:
        writer.append([0.0], {"vorticity": np.zeros((1, 4, 4), np.float32)})
        _ = 1 / 0
    assert list(tmp_path.iterdir()) == []


def test_a_writer_closed_without_finish_leaves_nothing(tmp_path):
    with (
        pytest.raises(RuntimeError, match="without finish"),
        _writer(tmp_path / "out.nc") as writer,
    ):
        writer.append([0.0], {"vorticity": np.zeros((1, 4, 4), np.float32)})
    assert list(tmp_path.iterdir()) == []


def test_write_dataset_is_atomic_and_keeps_attributes(tmp_path):
    dataset = xr.Dataset({"a": ("x", np.arange(3.0), {"units": "1", "long_name": "a"})})
    write_dataset(dataset, tmp_path / "d.nc", {"title": "t"})
    with xr.open_dataset(tmp_path / "d.nc") as ds:
        assert ds.attrs == {"title": "t"} and ds.a.attrs["units"] == "1"
    bad = xr.Dataset({"a": ("x", np.array([object()]))})
    with pytest.raises(Exception):  # noqa: B017 -- any failure of the encoder
        write_dataset(bad, tmp_path / "bad.nc", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.nc"]
