"""The `simulate` stage: one trajectory (Reynolds number, seed) -> results/simulate/re{re}_seed{seed}.nc,
or, under a held-out boundary, results/simulate/{boundary}/re{re}_seed{seed}.nc.

The doubly periodic box runs the pseudo-spectral `Solver`; the wall-bounded channel runs the
finite-volume `flex.simulate.channel.ChannelSolver`. Both give the same fields, diagnostics and
checks, and the file the same contract, with the boundary in its attributes.

Snapshots are streamed to disk chunk by chunk (`execution.simulate.snapshots_per_chunk`), so
memory does not grow with the number of snapshots (the data do not depend on the chunk size);
the next chunk is dispatched to the device before the current one is checked and written, so
that I/O overlaps the computation. A blow-up (non-finite values, or
a measured Courant number above `simulate.courant_abort`) stops the job with the Reynolds number,
seed, step and time, and leaves no output file.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from flex.config import BOUNDARIES, SimulateExecution, SimulationJob, to_dict
from flex.devices import jax_backend
from flex.errors import StageFailure
from flex.io.netcdf import FieldWriter
from flex.io.provenance import provenance_attrs
from flex.simulate.solver import Solver, configure_jax

log = logging.getLogger(__name__)

FIELD_ATTRS = {
    "vorticity": {"long_name": "vorticity (curl of velocity)", "units": "1"},
    "u": {"long_name": "velocity x-component", "units": "1"},
    "v": {"long_name": "velocity y-component", "units": "1"},
}
"""Variables of the data contract, in the order `Solver.advance` returns them."""

SERIES_ATTRS = {
    "kinetic_energy": {"long_name": "domain-mean kinetic energy 0.5 <u^2 + v^2>", "units": "1"},
    "enstrophy": {"long_name": "domain-mean enstrophy 0.5 <omega^2>", "units": "1"},
    "courant_number": {"long_name": "Courant number max|u| dt / dx", "units": "1"},
    "band_enstrophy_fraction": {
        "long_name": "fraction of enstrophy at |k| >= resolution_band_start * cutoff wavenumber",
        "units": "1",
    },
}
SPACE_ATTRS = {"units": "1"}  # lengths in units where the box is domain_length


def make_solver(job: SimulationJob) -> Solver:
    """The solver of the job's boundary (`flex.config.BOUNDARIES`); a job naming an unknown
    boundary or scheme is refused before any work."""
    if job.boundary not in BOUNDARIES:
        raise StageFailure(f"job 'boundary' = {job.boundary!r}; allowed: {', '.join(BOUNDARIES)}")
    if job.boundary == "periodic":
        return Solver(job)
    from flex.simulate.channel import TIME_STEPPERS, ChannelSolver

    if job.boundary_time_stepper not in TIME_STEPPERS:
        raise StageFailure(
            f"job 'boundary_time_stepper' = {job.boundary_time_stepper!r} for the boundary "
            f"{job.boundary!r}; allowed: {', '.join(TIME_STEPPERS)}"
        )
    return ChannelSolver(job)


class SimulationBlowUp(StageFailure):
    """The solution became non-finite or violated the Courant limit."""


class UnderResolvedWarning(UserWarning):
    """Too much enstrophy in the highest resolved wavenumbers."""


def _check_chunk(job: SimulationJob, solver: Solver, diagnostics: dict, first_save: int) -> None:
    timing = solver.timing
    limit = job.simulate.courant_abort
    for offset, (finite, courant) in enumerate(
        zip(diagnostics["finite"], diagnostics["courant_number"], strict=True)
    ):
        if finite and courant <= limit:
            continue
        save = first_save + offset + 1
        where = (
            f"Re={job.reynolds_number:g}, seed={job.seed}, by step {save * timing.steps_per_save} "
            f"(t={save * timing.save_interval:.6g}, dt={timing.time_step:.4g})"
        )
        if not finite:
            raise SimulationBlowUp(f"simulation blew up: non-finite values at {where}")
        raise SimulationBlowUp(
            f"simulation unstable: Courant number {courant:.3g} > simulate.courant_abort={limit:g} "
            f"at {where}; lower simulate.time_step / simulate.courant_number or raise "
            "simulate.max_velocity"
        )


def _chunk_plan(total: int, per_chunk: int) -> list[tuple[int, int]]:
    """(first save index, number of saves) for each chunk."""
    return [(start, min(per_chunk, total - start)) for start in range(0, total, per_chunk)]


def run(job: SimulationJob, execution: SimulateExecution, output: str | Path,
        progress: bool = True) -> Path:  # fmt: skip
    """Simulate one trajectory and write it to `output` (atomically)."""
    jax_backend(execution.device, "execution.simulate.device")
    jax_settings = configure_jax(job.simulate)
    solver = make_solver(job)
    timing = solver.timing
    total_saves = timing.spinup_saves + job.simulate.num_snapshots
    plan = _chunk_plan(total_saves, execution.snapshots_per_chunk)
    coords = np.asarray(solver.coordinates())
    series: dict[str, list[np.ndarray]] = {name: [] for name in SERIES_ATTRS}
    wall_yplus = []  # wall-bounded runs: the first cell's y+ per snapshot (an attribute)
    log.info(
        "%s Re=%g seed=%d grid=%d dt=%.5g steps/save=%d spin-up saves=%d snapshots=%d backend=%s",
        job.boundary, job.reynolds_number, job.seed, job.simulate.grid_size, timing.time_step,
        timing.steps_per_save, timing.spinup_saves, job.simulate.num_snapshots,
        jax_settings["jax_backend"],
    )  # fmt: skip
    writer = FieldWriter(
        output, coords, coords, FIELD_ATTRS, SERIES_ATTRS, space_attrs=SPACE_ATTRS,
        dtype=job.simulate.dtype, compression=job.simulate.compression,
        tile=job.simulate.storage_tile,
    )  # fmt: skip
    bar = tqdm(
        total=total_saves * timing.steps_per_save, unit="step", disable=not progress,
        desc=f"simulate {job.boundary} Re={job.reynolds_number:g} seed={job.seed}",
        mininterval=2.0,
    )  # fmt: skip
    with writer, bar:
        state = solver.initial_state()
        pending = solver.advance(state, plan[0][1])
        for index, (first, count) in enumerate(plan):
            state, fields, diagnostics = pending
            if index + 1 < len(plan):
                pending = solver.advance(state, plan[index + 1][1])  # overlaps the write below
            diagnostics = {k: np.asarray(v) for k, v in diagnostics.items()}
            _check_chunk(job, solver, diagnostics, first)
            saves = np.arange(first, first + count)
            kept = saves >= timing.spinup_saves
            if kept.any():
                fields = np.asarray(fields)[kept]
                times = (saves[kept] + 1) * timing.save_interval
                writer.append(times, {n: fields[:, i] for i, n in enumerate(FIELD_ATTRS)})
                for name in SERIES_ATTRS:
                    series[name].append(diagnostics[name][kept])
                if "wall_yplus" in diagnostics:
                    wall_yplus.append(diagnostics["wall_yplus"][kept])
            bar.update(count * timing.steps_per_save)
            bar.set_postfix_str(f"t={(first + count) * timing.save_interval:.2f}", refresh=False)
        values = {name: np.concatenate(parts) for name, parts in series.items()}
        for name, array in values.items():
            writer.set_series(name, array)
        attrs = _attributes(job, execution, solver, values, jax_settings)
        if wall_yplus:
            attrs["wall_yplus_max"] = float(np.concatenate(wall_yplus).max())
        if attrs["under_resolved"]:
            warnings.warn(
                f"Re={job.reynolds_number:g} seed={job.seed} is under-resolved at grid "
                f"{job.simulate.grid_size}: up to {attrs['band_enstrophy_fraction_max']:.3g} of the "
                f"enstrophy lies at |k| >= {job.simulate.resolution_band_start:g} k_c "
                f"(allowed {job.simulate.resolution_max_enstrophy_fraction:g})",
                UnderResolvedWarning,
                stacklevel=2,
            )
        writer.finish(attrs)
    log.info("wrote %s", output)
    return Path(output)


def _attributes(job: SimulationJob, execution: SimulateExecution, solver: Solver, series: dict,
                jax_settings: dict) -> dict:  # fmt: skip
    sim, physics, timing = job.simulate, job.physics, solver.timing
    band_max = float(series["band_enstrophy_fraction"].max())
    walls = job.boundary != "periodic"
    where = f"between no-slip walls ({job.boundary})" if walls else "in a periodic box"
    return provenance_attrs(
        title=f"Forced 2D turbulence {where}, Re={job.reynolds_number:g}, seed={job.seed} "
        "(jax-cfd)",
        stage_config=to_dict(job),
        execution=to_dict(execution),
        reynolds_number=float(job.reynolds_number),
        viscosity=job.viscosity,
        drag=physics.drag,
        forcing_wavenumber=physics.forcing_wavenumber,
        forcing_amplitude=physics.forcing_amplitude,
        domain_length=physics.domain_length,
        grid_size=sim.grid_size,
        time_step=timing.time_step,
        steps_per_save=timing.steps_per_save,
        save_interval=timing.save_interval,
        spinup_time=timing.spinup_time,
        seed=job.seed,
        dtype=sim.dtype,
        boundary=job.boundary,
        solver="finite_volume" if walls else "pseudo_spectral",
        time_stepper=job.boundary_time_stepper if walls else sim.time_stepper,
        dealias=sim.dealias and not walls,
        courant_number_max=float(series["courant_number"].max()),
        resolution_cutoff_wavenumber=float(solver.diagnostics.cutoff_wavenumber),
        band_enstrophy_fraction_max=band_max,
        under_resolved=band_max > sim.resolution_max_enstrophy_fraction,
        **jax_settings,
    )
