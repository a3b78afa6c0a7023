"""The `coarsen` stage: results/simulate/re{re}_seed{seed}.nc -> results/coarsen/re{re}_seed{seed}.nc.

Lazy and chunked (xarray + dask, `coarsen.snapshots_per_chunk` snapshots at a time): memory stays
bounded for the paper's 2048^2 x 1500 trajectories. Every field of the data contract (vorticity,
u, v) is coarse-grained by the configured method and factor (see `flex.coarsen.methods`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import xarray as xr

from flex import dims
from flex.coarsen.methods import DESCRIPTIONS, METHODS, coarse_coordinates
from flex.config import CoarsenConfig, to_dict
from flex.io.netcdf import open_input, require_variables, write_dataset
from flex.io.provenance import provenance_attrs

log = logging.getLogger(__name__)

FIELDS = ("vorticity", "u", "v")
CARRIED_ATTRS = ("reynolds_number", "viscosity", "drag", "forcing_wavenumber", "forcing_amplitude",
                 "domain_length", "seed", "time_step", "save_interval", "spinup_time",
                 "under_resolved")  # fmt: skip
"""Physical attributes of the simulation that the coarse file carries on."""


def coarsen_dataset(fine: xr.Dataset, coarsen: CoarsenConfig) -> xr.Dataset:
    """Lazily coarse-grain every field of `fine`; coordinates follow the method."""
    factor, method = coarsen.coarsen_factor, coarsen.method
    operator = METHODS[method]
    size_y, size_x = fine.sizes[dims.Y] // factor, fine.sizes[dims.X] // factor
    coarse = {}
    for name in FIELDS:
        field = fine[name]
        out = xr.apply_ufunc(
            operator, field, kwargs={"factor": factor},
            input_core_dims=[[dims.Y, dims.X]], output_core_dims=[["y_coarse", "x_coarse"]],
            dask="parallelized", output_dtypes=[field.dtype],
            dask_gufunc_kwargs={"output_sizes": {"y_coarse": size_y, "x_coarse": size_x}},
        ).rename({"y_coarse": dims.Y, "x_coarse": dims.X})  # fmt: skip
        out.attrs = {
            "units": field.attrs.get("units", "1"),
            "long_name": f"{field.attrs.get('long_name', name)}, coarse-grained by "
            f"{DESCRIPTIONS[method]} x{factor}",
            "coarsen_method": method,
            "coarsen_factor": factor,
        }
        coarse[name] = out
    coords = {
        dims.TIME: fine[dims.TIME],
        dims.Y: (
            dims.Y,
            coarse_coordinates(fine[dims.Y].values, factor, method),
            fine[dims.Y].attrs,
        ),
        dims.X: (
            dims.X,
            coarse_coordinates(fine[dims.X].values, factor, method),
            fine[dims.X].attrs,
        ),
    }
    return xr.Dataset(coarse, coords=coords)


def run(coarsen: CoarsenConfig, simulation: str | Path, output: str | Path) -> Path:
    # whole snapshots per dask chunk (the file's own chunks may be spatial tiles)
    fine = open_input(simulation, chunks={dims.TIME: coarsen.snapshots_per_chunk, dims.Y: -1,
                                          dims.X: -1})  # fmt: skip
    with fine:
        require_variables(fine, simulation, FIELDS)
        coarse = coarsen_dataset(fine, coarsen)
        size = coarse.sizes[dims.Y]
        for name in FIELDS:
            coarse[name].encoding = {"chunksizes": (1, size, size), "dtype": np.float32}
        attrs = provenance_attrs(
            title=f"{fine.attrs.get('title', Path(simulation).name)}, coarse-grained "
            f"({DESCRIPTIONS[coarsen.method]} x{coarsen.coarsen_factor})",
            stage_config=to_dict(coarsen),
            coarsen_method=coarsen.method,
            coarsen_factor=coarsen.coarsen_factor,
            fine_grid_size=fine.sizes[dims.Y],
            grid_size=size,
            simulation_file=str(simulation),
            **{k: fine.attrs[k] for k in CARRIED_ATTRS if k in fine.attrs},
        )
        write_dataset(coarse, output, attrs)
    log.info("wrote %s (%s x%d)", output, coarsen.method, coarsen.coarsen_factor)
    return Path(output)
