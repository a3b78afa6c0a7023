"""results/coarsen/training_statistics.nc: mean and standard deviation of every field over the
training trajectories only,

    mean = sum(w) / N,   std = sqrt(sum(w^2) / N - mean^2),

over every grid point and snapshot of the training split, for each field (vorticity, u, v); every
value read must be finite (else the file, variable and index are named). The sums are taken per
snapshot (float64) and added with `math.fsum` (exactly rounded), so the
result does not depend on how many snapshots are read at a time (`execution.coarsen`). The
models normalise by these, x' = (x - mean) / std, and their checkpoints record them (the paper's
5.4574137 belongs to its own data and is not used).

The stage reads each input file's `reynolds_number` and `seed` attributes and refuses any
trajectory that is not in the training split. Its job holds only the training Reynolds numbers and
seeds, so that adding a held-out Reynolds number or a test seed changes nothing here (nor in
training).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import xarray as xr

from flex import dims
from flex.config import CoarsenExecution, StatisticsJob, to_dict
from flex.data.splits import Trajectory, check_membership
from flex.data.statistics import FIELDS
from flex.errors import StageFailure
from flex.io.netcdf import open_input, reading, require_finite, require_variables, write_dataset
from flex.io.provenance import provenance_attrs


def field_moments(
    paths: list[Path], snapshots_per_chunk: int
) -> dict[str, tuple[float, float, int]]:
    """(sum, sum of squares, count) per field over all `paths`, `snapshots_per_chunk` at a time."""
    parts: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in FIELDS}
    counts = dict.fromkeys(FIELDS, 0)
    for path in paths:
        with open_input(path) as ds:
            require_variables(ds, path, FIELDS)
            length = ds.sizes[dims.TIME]
            for name in FIELDS:
                for start in range(0, length, snapshots_per_chunk):
                    chunk = ds[name].isel({dims.TIME: slice(start, start + snapshots_per_chunk)})
                    with reading(path):
                        values = np.asarray(chunk.values, dtype=np.float64)
                    require_finite(values, path, name, dims.FIELD_DIMS, start)
                    parts[name][0].extend(values.sum(axis=(-2, -1)).tolist())
                    parts[name][1].extend((values**2).sum(axis=(-2, -1)).tolist())
                    counts[name] += values.size
    return {name: (math.fsum(s), math.fsum(q), counts[name]) for name, (s, q) in parts.items()}


def run(job: StatisticsJob, execution: CoarsenExecution, inputs: list[Path], output: Path) -> Path:
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
    moments = field_moments(list(inputs), execution.snapshots_per_chunk)
    data = {}
    for name, (total, squares, count) in moments.items():
        mean = total / count
        std = float(np.sqrt(max(squares / count - mean**2, 0.0)))
        data[f"{name}_mean"] = ((), mean, {"units": "1", "long_name": f"training mean of {name}"})
        data[f"{name}_std"] = ((), std, {"units": "1", "long_name": f"training std of {name}"})
    attrs = provenance_attrs(
        title="normalisation statistics of the training trajectories",
        stage_config=to_dict(job),
        execution=to_dict(execution),
        training_files=" ".join(str(p) for p in inputs),
        training_trajectories=str(sorted(found)),
    )
    return write_dataset(xr.Dataset(data), output, attrs)
