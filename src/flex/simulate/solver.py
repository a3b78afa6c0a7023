"""The compiled solver of one trajectory: grid, equation, time step, and chunks of saved snapshots.

Time step from the CFL condition (Courant, Friedrichs & Lewy 1928), unless fixed in config:

    dt_max = C dx / u_max,   C = `simulate.courant_number`, u_max = `simulate.max_velocity`,

then shortened so that a whole number of steps fits in one save interval:
steps_per_save = ceil(save_interval / dt_max), dt = save_interval / steps_per_save.

`Solver.advance(state, n)` runs n save intervals (n * steps_per_save solver steps) in one compiled
call (jax.lax.scan over saves, fori_loop over steps: no Python loop per step) and returns the new
state, the n snapshots as (n, 3, y, x) = (vorticity, u, v) in the data-contract layout, and the
per-snapshot diagnostics.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from flex.config import SimulateConfig, SimulationJob
from flex.simulate.diagnostics import SnapshotDiagnostics
from flex.simulate.equations import (
    TIME_STEPPERS,
    ForcedVorticityEquation,
    make_grid,
    to_contract_layout,
)
from flex.simulate.initial import initial_vorticity_hat


def configure_jax(simulate: SimulateConfig) -> dict[str, object]:
    """Set the process-wide jax options that decide the numbers; return them for provenance."""
    jax.config.update("jax_enable_x64", simulate.dtype == "float64")
    jax.config.update("jax_threefry_partitionable", simulate.jax_threefry_partitionable)
    return {
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "jax_threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
        "jax_default_prng_impl": str(jax.config.jax_default_prng_impl),
        "jax_backend": jax.default_backend(),
    }


@dataclasses.dataclass(frozen=True)
class TimeDiscretisation:
    time_step: float
    steps_per_save: int
    spinup_saves: int
    save_interval: float

    @property
    def spinup_time(self) -> float:
        """Discarded spin-up: a whole number of save intervals, >= `simulate.spinup_time`."""
        return self.spinup_saves * self.save_interval


def time_discretisation(simulate: SimulateConfig, domain_length: float) -> TimeDiscretisation:
    dx = domain_length / simulate.grid_size
    dt_max = simulate.time_step or simulate.courant_number * dx / simulate.max_velocity
    tolerance = 1e-9  # float round-off of the ratios, so that exact multiples stay exact
    steps_per_save = max(1, math.ceil(simulate.save_interval / dt_max - tolerance))
    spinup_saves = math.ceil(simulate.spinup_time / simulate.save_interval - tolerance)
    return TimeDiscretisation(
        time_step=simulate.save_interval / steps_per_save,
        steps_per_save=steps_per_save,
        spinup_saves=spinup_saves,
        save_interval=simulate.save_interval,
    )


class Solver:
    """jax-cfd implicit-explicit time stepping of `ForcedVorticityEquation` for one job."""

    def __init__(self, job: SimulationJob) -> None:
        sim, physics = job.simulate, job.physics
        self.job = job
        self.dtype = jnp.dtype(sim.dtype)
        self.grid = make_grid(sim.grid_size, physics.domain_length)
        self.equation = ForcedVorticityEquation(
            grid=self.grid,
            viscosity=job.viscosity,
            drag=physics.drag,
            forcing_wavenumber=physics.forcing_wavenumber,
            forcing_amplitude=physics.forcing_amplitude,
            dealias=sim.dealias,
        )
        self.timing = time_discretisation(sim, physics.domain_length)
        self.step: Callable = TIME_STEPPERS[sim.time_stepper](self.equation, self.timing.time_step)
        self.diagnostics = SnapshotDiagnostics(
            self.equation, self.timing.time_step, sim.resolution_band_start
        )
        self._compiled: dict[int, Callable] = {}

    def initial_state(self) -> jnp.ndarray:
        sim = self.job.simulate
        return initial_vorticity_hat(
            self.job.seed,
            self.equation,
            sim.initial_peak_wavenumber,
            sim.initial_max_velocity,
            self.dtype,
        )

    def coordinates(self) -> jnp.ndarray:
        """Grid point positions j * dx (the points where the FFT fields live), for x and y."""
        return self.grid.axes(offset=(0.0, 0.0))[0]

    def _save_interval(self, state: jnp.ndarray, _) -> tuple[jnp.ndarray, tuple]:
        steps = self.timing.steps_per_save
        state = jax.lax.fori_loop(0, steps, lambda _, s: self.step(s), state)
        fields = self.equation.real_fields(state)  # (3, x, y)
        return state, (to_contract_layout(fields), self.diagnostics(state, fields))

    def advance(self, state: jnp.ndarray, saves: int) -> tuple[jnp.ndarray, jnp.ndarray, dict]:
        """Run `saves` save intervals; returns (state, fields (saves, 3, y, x), diagnostics)."""
        if saves not in self._compiled:
            self._compiled[saves] = jax.jit(
                lambda s: jax.lax.scan(self._save_interval, s, None, length=saves)
            )
        state, (fields, diagnostics) = self._compiled[saves](state)
        return state, fields, diagnostics
