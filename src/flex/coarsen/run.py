"""The `coarsen` stage: results/simulate/re{re}_seed{seed}.nc -> results/coarsen/re{re}_seed{seed}.nc.

Streamed: `execution.coarsen.snapshots_per_chunk` snapshots are read, checked (every value
finite, else the file, variable and index are named), coarse-grained and written at a time, so
memory stays bounded for the paper's 2048^2 x 1500 trajectories. Each snapshot is coarse-grained
on its own, so the result does not depend on the chunk size. Every field of the data contract
(vorticity, u, v) is coarse-grained by the configured method and factor (`flex.coarsen.methods`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from flex import dims
from flex.coarsen.methods import DESCRIPTIONS, METHODS, coarse_coordinates
from flex.config import CoarsenExecution, CoarsenJob, to_dict
from flex.io.netcdf import FieldWriter, open_input, reading, require_finite, require_variables
from flex.io.provenance import provenance_attrs

log = logging.getLogger(__name__)

FIELDS = ("vorticity", "u", "v")
CARRIED_ATTRS = ("reynolds_number", "viscosity", "drag", "forcing_wavenumber", "forcing_amplitude",
                 "domain_length", "seed", "time_step", "save_interval", "spinup_time",
                 "under_resolved", "boundary")  # fmt: skip
"""Physical attributes of the simulation that the coarse file carries on."""


def run(job: CoarsenJob, execution: CoarsenExecution, simulation: str | Path,
        output: str | Path) -> Path:  # fmt: skip
    method, factor = job.coarsen.method, job.coarsen.coarsen_factor
    operator, chunk = METHODS[method], execution.snapshots_per_chunk
    with open_input(simulation) as fine:
        require_variables(fine, simulation, FIELDS)
        with reading(simulation):
            y, x = (coarse_coordinates(fine[d].values, factor, method) for d in (dims.Y, dims.X))
            times = fine[dims.TIME].values
        variables = {
            name: {"units": fine[name].attrs.get("units", "1"),
                   "long_name": f"{fine[name].attrs.get('long_name', name)}, coarse-grained by "
                   f"{DESCRIPTIONS[method]} x{factor}",
                   "coarsen_method": method, "coarsen_factor": factor}
            for name in FIELDS
        }  # fmt: skip
        space = {k: v for k, v in fine[dims.Y].attrs.items() if k not in ("axis", "long_name")}
        attrs = provenance_attrs(
            title=f"{fine.attrs.get('title', Path(simulation).name)}, coarse-grained "
            f"({DESCRIPTIONS[method]} x{factor})",
            stage_config=to_dict(job.coarsen),
            execution=to_dict(execution),
            coarsen_method=method,
            coarsen_factor=factor,
            fine_grid_size=fine.sizes[dims.Y],
            grid_size=len(y),
            simulation_file=str(simulation),
            **{k: fine.attrs[k] for k in CARRIED_ATTRS if k in fine.attrs},
        )
        writer = FieldWriter(output, y, x, variables, space_attrs=space, dtype="float32")
        with writer:
            for start in range(0, len(times), chunk):
                part = slice(start, start + chunk)
                coarse = {}
                for name in FIELDS:
                    with reading(simulation):
                        values = fine[name].isel({dims.TIME: part}).values
                    require_finite(values, simulation, name, dims.FIELD_DIMS, start)
                    coarse[name] = operator(values, factor).astype(np.float32)
                writer.append(times[part], coarse)
            writer.finish(attrs)
    log.info("wrote %s (%s x%d)", output, method, factor)
    return Path(output)
