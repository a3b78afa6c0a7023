"""Reading the normalisation statistics of the training trajectories (written by the
`training_statistics` rule, `flex.statistics`): {field: (mean, std)}."""

from __future__ import annotations

from pathlib import Path

from flex.io.netcdf import open_input

FIELDS = ("vorticity", "u", "v")
"""The fields of the data contract, each normalised by its own statistics."""


def read_statistics(path: str | Path) -> dict[str, tuple[float, float]]:
    """{field: (mean, std)} from a statistics file."""
    with open_input(path) as ds:
        return {
            name: (float(ds[f"{name}_mean"]), float(ds[f"{name}_std"]))
            for name in FIELDS
            if f"{name}_mean" in ds
        }
