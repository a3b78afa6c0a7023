"""Write NetCDF files atomically: a crashed or killed writer never leaves a complete-looking file.

Every file goes to a hidden temporary name beside its destination and is renamed into place only
after it was closed and synced; an exception removes the temporary file. `write_dataset` writes a
whole xarray Dataset; `FieldWriter` streams (time, y, x) fields chunk by chunk so that memory does
not grow with the length of a trajectory. Global attributes are written last.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import xarray as xr

from flex import dims

COMPRESSION = {"none": {}, "zlib": {"compression": "zlib", "complevel": 1, "shuffle": True},
               "zstd": {"compression": "zstd", "complevel": 1, "shuffle": True}}  # fmt: skip
"""netCDF4 filter settings by config name (`simulate.compression`)."""


def temporary_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path; on success fsync and rename it to `path`, on error delete it."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(final)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_dataset(dataset: xr.Dataset, path: str | Path, attrs: Mapping[str, Any]) -> Path:
    """Write `dataset` with global `attrs` to `path` atomically (netCDF4 format)."""
    dataset = dataset.copy()
    dataset.attrs = dict(attrs)
    with atomic_output(path) as tmp:
        dataset.to_netcdf(tmp, engine="netcdf4", format="NETCDF4")
    return Path(path)


class _StreamingWriter:
    """Shared life cycle of the streaming writers: a temporary file, `finish` (attributes last,
    close, rename) and removal of the temporary file when left any other way."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._context: contextlib.AbstractContextManager[Path] | None = None
        self._dataset: netCDF4.Dataset | None = None
        self._finished = False
        self.length = 0

    def _define(self, dataset: netCDF4.Dataset) -> None:
        raise NotImplementedError

    def __enter__(self):
        self._context = atomic_output(self.path)
        dataset = netCDF4.Dataset(self._context.__enter__(), "w", format="NETCDF4")
        try:
            self._define(dataset)
        except BaseException:
            dataset.close()
            self._context.__exit__(RuntimeError, RuntimeError("definition failed"), None)
            raise
        self._dataset = dataset
        return self

    def finish(self, attrs: Mapping[str, Any]) -> None:
        """Write global attributes (last), close the file and move it into place."""
        assert self._dataset is not None, "use the writer as a context manager"
        self._dataset.setncatts(dict(attrs))
        self._dataset.close()
        self._dataset = None
        self._finished = True

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._dataset is not None:
            self._dataset.close()
            self._dataset = None
        assert self._context is not None
        if exc_type is None and not self._finished:
            error = RuntimeError(f"{self.path}: writer closed without finish(); file discarded")
            self._context.__exit__(RuntimeError, error, None)  # removes the temporary file
            raise error
        self._context.__exit__(exc_type, exc, tb)  # renames on success, removes on error
        return False


class FieldWriter(_StreamingWriter):
    """Stream fields (time, y, x) into a NetCDF file, one chunk of snapshots at a time.

    NetCDF chunks are (1, tile, tile): one snapshot, split into square tiles, so that reading a
    patch touches only the tiles it overlaps.

    Usage:
        with FieldWriter(path, y, x, variables, compression="none", tile=256) as writer:
            writer.append(time_chunk, {"vorticity": array(T, ny, nx), ...})
            writer.set_series("kinetic_energy", values)     # optional 1-D (time) variables
            writer.finish(global_attrs)                      # attributes last, then rename
    Leaving the block without `finish` (an exception, a blow-up) deletes the temporary file.
    """

    def __init__(
        self,
        path: str | Path,
        y: np.ndarray,
        x: np.ndarray,
        variables: Mapping[str, Mapping[str, str]],
        series: Mapping[str, Mapping[str, str]] | None = None,
        time_attrs: Mapping[str, str] | None = None,
        space_attrs: Mapping[str, str] | None = None,
        dtype: str = "float32",
        compression: str = "none",
        tile: int | None = None,
    ) -> None:
        super().__init__(path)
        self.variables = dict(variables)
        self.series = dict(series or {})
        self._time_attrs = dict(time_attrs or {})
        self._space_attrs = dict(space_attrs or {})
        self._y, self._x = np.asarray(y), np.asarray(x)
        self._dtype = dtype
        self._filters = COMPRESSION[compression]
        self._tile = tile

    def _define(self, ds: netCDF4.Dataset) -> None:
        ds.createDimension(dims.TIME, None)
        ds.createDimension(dims.Y, self._y.size)
        ds.createDimension(dims.X, self._x.size)
        time = ds.createVariable(dims.TIME, "f8", (dims.TIME,))
        time.setncatts({"axis": "T", **self._time_attrs})
        for name, values, axis in ((dims.Y, self._y, "Y"), (dims.X, self._x, "X")):
            coord = ds.createVariable(name, "f8", (name,))
            coord[:] = values
            coord.setncatts({"axis": axis, **self._space_attrs, "long_name": f"{name} coordinate"})
        tile = self._tile or max(self._y.size, self._x.size)
        chunks = (1, min(tile, self._y.size), min(tile, self._x.size))
        snapshot_bytes = self._y.size * self._x.size * np.dtype(self._dtype).itemsize
        for name, attrs in self.variables.items():
            var = ds.createVariable(name, self._dtype, dims.FIELD_DIMS, chunksizes=chunks,
                                    **self._filters)  # fmt: skip
            # Writing is sequential: a cache of one snapshot suffices. netCDF's default (64 MiB
            # per variable) would make the writer's memory grow until that size.
            var.set_var_chunk_cache(size=snapshot_bytes)
            var.setncatts(dict(attrs))
        for name, attrs in self.series.items():
            ds.createVariable(name, "f8", (dims.TIME,)).setncatts(dict(attrs))

    def append(self, times: Sequence[float], fields: Mapping[str, np.ndarray]) -> None:
        """Append snapshots: `fields[name]` has shape (len(times), ny, nx)."""
        assert self._dataset is not None, "use FieldWriter as a context manager"
        start, stop = self.length, self.length + len(times)
        self._dataset[dims.TIME][start:stop] = np.asarray(times, dtype="f8")
        for name in self.variables:
            self._dataset[name][start:stop] = fields[name]
        self.length = stop

    def set_series(self, name: str, values: np.ndarray) -> None:
        """Write a whole 1-D (time) variable declared in `series`."""
        assert self._dataset is not None
        self._dataset[name][:] = np.asarray(values, dtype="f8")


def open_input(path: str | Path, chunks: Mapping[str, int] | None = None) -> xr.Dataset:
    """Open a stage's input lazily; an unreadable, truncated or foreign file is named in the error."""
    from flex.errors import StageFailure

    path = Path(path)
    if not path.is_file():
        raise StageFailure(f"input file {path} does not exist")
    try:
        return xr.open_dataset(path, engine="netcdf4", chunks=dict(chunks) if chunks else None)
    except Exception as error:  # the netCDF library's messages do not name the file
        raise StageFailure(
            f"cannot read input file {path} ({type(error).__name__}: {error}); it is truncated, "
            "corrupted or not NetCDF: delete it and rerun the stage that makes it"
        ) from error


def require_variables(dataset: xr.Dataset, path: str | Path, names: Sequence[str]) -> None:
    """Fail with the file's name when a variable of the data contract is missing."""
    from flex.errors import StageFailure

    missing = [name for name in names if name not in dataset.variables]
    if missing:
        raise StageFailure(f"input file {path} lacks variable(s) {missing} of the data contract")


class RecordWriter(_StreamingWriter):
    """Stream records along a first, unlimited dimension (e.g. `sample`) into a NetCDF file.

        with RecordWriter(path, "sample", dims={"member": 8, "y": 64, "x": 64},
                          variables={"prediction": (("sample", "member", "y", "x"), "f4", attrs)},
                          coords={"y": (values, attrs)}) as writer:
            writer.append({"prediction": array(n, 8, 64, 64), ...})
            writer.finish(global_attrs)

    Same atomicity as `FieldWriter`; memory holds one batch of records, never the file.
    """

    def __init__(self, path, record_dim: str, dims: Mapping[str, int], variables: Mapping,
                 coords: Mapping | None = None) -> None:  # fmt: skip
        super().__init__(path)
        self.record_dim = record_dim
        self.dims, self.variables, self.coords = dict(dims), dict(variables), dict(coords or {})

    def _define(self, ds: netCDF4.Dataset) -> None:
        ds.createDimension(self.record_dim, None)
        for name, size in self.dims.items():
            ds.createDimension(name, size)
        for name, (values, attrs) in self.coords.items():
            coord = ds.createVariable(name, np.asarray(values).dtype, (name,))
            coord[:] = values
            coord.setncatts(dict(attrs))
        for name, (var_dims, dtype, attrs) in self.variables.items():
            chunks = [1 if d == self.record_dim else min(self.dims[d], 256) for d in var_dims]
            var = ds.createVariable(name, dtype, var_dims, chunksizes=chunks)
            record = int(np.prod(chunks)) * np.dtype(dtype).itemsize
            var.set_var_chunk_cache(size=max(record, 1))  # sequential writes: see FieldWriter
            var.setncatts(dict(attrs))

    def append(self, records: Mapping[str, np.ndarray]) -> None:
        assert self._dataset is not None, "use RecordWriter as a context manager"
        count = len(next(iter(records.values())))
        for name, values in records.items():
            self._dataset[name][self.length : self.length + count] = values
        self.length += count
