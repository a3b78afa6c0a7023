"""Write NetCDF files atomically: a crashed or killed writer never leaves a complete-looking file.

Every numeric array is stored with a Fletcher-32 checksum per chunk, so that a damaged file fails
when read (and `reading` names it) instead of passing garbage on.

Every file goes to a hidden temporary name beside its destination and is renamed into place only
after it was closed and synced; an exception removes the temporary file. `write_dataset` writes a
whole xarray Dataset; `FieldWriter` streams (time, y, x) fields chunk by chunk so that memory does
not grow with the length of a trajectory. Global attributes are written last.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import xarray as xr

from flex import dims

TIME_UNITS = "days since 2000-01-01 00:00:00"
"""CF units of the time axis. Time in this project is nondimensional (units of L/U, with L the
box length over 2 pi and U the velocity scale of the forcing; docs/method.md), and CF (section 4.4)
wants "<unit> since <date>" on a time axis. The convention: one nondimensional time unit is stored
as one "day" after an arbitrary reference date, so that CF tools (cdo, ncview, the CF checker)
read the axis; the numbers in the file are the nondimensional times themselves. Days, not
seconds: cdo shows time stamps to the second, so a save interval of 0.2 time units is 4.8 hours
apart there (distinct), not 0.2 s (the same stamp). Read them as numbers with
`xarray.open_dataset(path, decode_times=False)` (the stages do) or netCDF4."""

TIME_ATTRS = {
    "standard_name": "time",
    "long_name": "nondimensional simulation time since the initial condition",
    "units": TIME_UNITS,
    "calendar": "proleptic_gregorian",
    "comment": "nondimensional time (units L/U) stored as days since an arbitrary reference "
    "date; decode_times=False in xarray gives the numbers",
}
"""Attributes of every file's time coordinate."""

COMPRESSION = {"none": {}, "zlib": {"compression": "zlib", "complevel": 1, "shuffle": True},
               "zstd": {"compression": "zstd", "complevel": 1, "shuffle": True}}  # fmt: skip
"""netCDF4 filter settings by config name (`simulate.compression`)."""


def temporary_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporaries of `path` that other processes left (a killed job's): one file has
    one writer at a time (Snakemake's lock), so any other is stale."""
    own = temporary_path(path)
    stale = [p for p in path.parent.glob(f".{glob.escape(path.name)}.*.tmp") if p != own]
    for found in stale:
        found.unlink(missing_ok=True)
    return stale


def _disk_full(error: BaseException, path: Path) -> bool:
    """Whether writing `path` failed because its file system is full (ENOSPC, or a library error
    while no space is left)."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    try:
        return shutil.disk_usage(path.parent).free == 0
    except OSError:
        return False


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path; on success fsync and rename it to `path`, on error delete it.

    Stale temporaries of `path` from killed writers are removed first; a full disk is reported as
    a StageFailure naming the file."""
    from flex.errors import StageFailure

    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    tmp = temporary_path(final)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except Exception as error:
        if _disk_full(error, final):
            raise StageFailure(f"no space left on the device of {final} while writing it; free "
                               "space and rerun the job") from error  # fmt: skip
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_dataset(dataset: xr.Dataset, path: str | Path, attrs: Mapping[str, Any]) -> Path:
    """Write `dataset` with global `attrs` to `path` atomically (netCDF4 format)."""
    dataset = dataset.copy()
    dataset.attrs = dict(attrs)
    for variable in dataset.data_vars.values():
        if variable.ndim and variable.dtype.kind in "fiu":
            variable.encoding.setdefault("fletcher32", True)
    for coordinate in dataset.coords.values():  # CF: no fill value on coordinates
        coordinate.encoding["_FillValue"] = None
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
    patch touches only the tiles it overlaps. The time coordinate always carries `TIME_ATTRS`
    (every stage's files follow the one time convention).

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
        space_attrs: Mapping[str, str] | None = None,
        dtype: str = "float32",
        compression: str = "none",
        tile: int | None = None,
    ) -> None:
        super().__init__(path)
        self.variables = dict(variables)
        self.series = dict(series or {})
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
        time.setncatts({"axis": "T", **TIME_ATTRS})
        # No `axis: X/Y` on the space coordinates: CF (section 5.6) takes X/Y axes for a horizontal
        # grid on the Earth and then requires latitude and longitude, which an idealised box has not.
        for name, values in ((dims.Y, self._y), (dims.X, self._x)):
            coord = ds.createVariable(name, "f8", (name,))
            coord[:] = values
            coord.setncatts({**self._space_attrs, "long_name": f"{name} coordinate"})
        tile = self._tile or max(self._y.size, self._x.size)
        chunks = (1, min(tile, self._y.size), min(tile, self._x.size))
        snapshot_bytes = self._y.size * self._x.size * np.dtype(self._dtype).itemsize
        for name, attrs in self.variables.items():
            var = ds.createVariable(name, self._dtype, dims.FIELD_DIMS, chunksizes=chunks,
                                    fletcher32=True, **self._filters)  # fmt: skip
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
        return xr.open_dataset(
            path, engine="netcdf4", chunks=dict(chunks) if chunks else None, decode_times=False
        )  # nondimensional time (TIME_UNITS)
    except Exception as error:  # the netCDF library's messages do not name the file
        raise StageFailure(
            f"cannot read input file {path} ({type(error).__name__}: {error}); it is truncated, "
            "corrupted or not NetCDF: delete it and rerun the stage that makes it"
        ) from error


@contextlib.contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Name the file in any error raised while its contents are read (the netCDF and HDF5
    libraries' messages, e.g. "NetCDF: HDF error" for a damaged chunk, do not)."""
    from flex.errors import StageFailure

    try:
        yield
    except StageFailure:
        raise
    except (OSError, RuntimeError, ValueError, KeyError) as error:
        raise StageFailure(
            f"cannot read input file {path} ({type(error).__name__}: {error}); it is truncated, "
            "corrupted or not what the stage expects: delete it and rerun the stage that makes it"
        ) from error


def require_finite(values: np.ndarray, path: str | Path, variable: str,
                   dims: Sequence[str], offset: int = 0) -> None:  # fmt: skip
    """Fail naming the file, the variable and the first index of a non-finite value; `offset` is
    the position of `values` along the first dimension in the file."""
    from flex.errors import StageFailure

    bad = ~np.isfinite(values)
    if bad.any():
        index = [int(i) for i in np.argwhere(bad)[0]]
        index[0] += offset
        where = ", ".join(f"{d}={i}" for d, i in zip(dims, index, strict=False))
        raise StageFailure(
            f"input file {path}: {variable} is not finite ({values[bad].flat[0]}) at {where} "
            f"({int(bad.sum())} such value(s) in this part); the file is damaged or made by a run "
            "that diverged: delete it and rerun the stage that makes it"
        )


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
            var = ds.createVariable(name, dtype, var_dims, chunksizes=chunks, fletcher32=True)
            record = int(np.prod(chunks)) * np.dtype(dtype).itemsize
            var.set_var_chunk_cache(size=max(record, 1))  # sequential writes: see FieldWriter
            var.setncatts(dict(attrs))

    def append(self, records: Mapping[str, np.ndarray]) -> None:
        assert self._dataset is not None, "use RecordWriter as a context manager"
        count = len(next(iter(records.values())))
        for name, values in records.items():
            self._dataset[name][self.length : self.length + count] = values
        self.length += count
