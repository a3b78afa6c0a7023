"""Normalisation statistics of the training trajectories only (mean and standard deviation).

    mean = sum(w) / N,   std = sqrt(sum(w^2) / N - mean^2)

over every grid point and snapshot of the training split (float64 accumulation, chunk by chunk),
for each field (vorticity, u, v). The models normalise by these, x' = (x - mean) / std, and the
checkpoint records them (the paper's 5.4574137 belongs to its own data and is not used).
The stage reads each file's `reynolds_number` and `seed` attributes and refuses any trajectory
that is not in the training split. Its job holds only the training Reynolds numbers and seeds, so
that adding a held-out Reynolds number or a test seed changes nothing here (nor in training).
"""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import xarray as xr

from flex import dims
from flex.config import StatisticsJob, to_dict
from flex.data.splits import Trajectory, check_membership
from flex.errors import StageFailure
from flex.io.netcdf import open_input, require_variables, write_dataset
from flex.io.provenance import provenance_attrs

FIELDS = ("vorticity", "u", "v")


def field_moments(
    paths: list[Path], snapshots_per_chunk: int
) -> dict[str, tuple[float, float, int]]:
    """(sum, sum of squares, count) per field over all `paths`, read lazily in time chunks."""
    moments = {name: [0.0, 0.0, 0] for name in FIELDS}
    for path in paths:
        with open_input(path, chunks={dims.TIME: snapshots_per_chunk}) as ds:
            require_variables(ds, path, FIELDS)
            for name in FIELDS:
                field = ds[name].astype(np.float64)
                total, squares = dask.compute(field.sum(), (field**2).sum())  # one pass
                moments[name][0] += float(total)
                moments[name][1] += float(squares)
                moments[name][2] += field.size
    return {name: (s, q, n) for name, (s, q, n) in moments.items()}


def run(job: StatisticsJob, inputs: list[Path], output: Path) -> Path:
    found = []
    for path in inputs:
        with open_input(path) as ds:
            found.append((float(ds.attrs["reynolds_number"]), int(ds.attrs["seed"])))
    try:
        allowed = [
            Trajectory(float(re), int(seed), "train")
            for re in job.train_reynolds_numbers
            for seed in job.train_seeds
        ]
        check_membership(found, "train", allowed)
    except ValueError as error:
        raise StageFailure(f"training statistics: {error}") from error
    moments = field_moments(list(inputs), job.snapshots_per_chunk)
    data = {}
    for name, (total, squares, count) in moments.items():
        mean = total / count
        std = float(np.sqrt(max(squares / count - mean**2, 0.0)))
        data[f"{name}_mean"] = ((), mean, {"units": "1", "long_name": f"training mean of {name}"})
        data[f"{name}_std"] = ((), std, {"units": "1", "long_name": f"training std of {name}"})
    attrs = provenance_attrs(
        title="normalisation statistics of the training trajectories",
        stage_config=to_dict(job),
        training_files=" ".join(str(p) for p in inputs),
        training_trajectories=str(sorted(found)),
    )
    return write_dataset(xr.Dataset(data), output, attrs)


def read_statistics(path: str | Path) -> dict[str, tuple[float, float]]:
    """{field: (mean, std)} from a statistics file."""
    with open_input(path) as ds:
        return {
            name: (float(ds[f"{name}_mean"]), float(ds[f"{name}_std"]))
            for name in FIELDS
            if f"{name}_mean" in ds
        }
