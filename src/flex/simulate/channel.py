"""The same forced flow between two no-slip walls: jax-cfd's finite-volume channel solver.

The held-out boundary condition of the study (README, "Held-out boundary"): the momentum form of
the equation of `flex.simulate.equations`, on [0, L) x [0, L], periodic in x, with no-slip walls
u = v = 0 at y = 0 and y = L:

    du/dt + (u . grad) u = -grad p + nu lap u - alpha u + (A sin(k_f y), 0),    div u = 0,

with the same Kolmogorov forcing, drag alpha and viscosity nu = 1 / Re as the periodic runs.

Discretisation (jax-cfd `jax_cfd.base`): a staggered (MAC) grid of N x N cells (Harlow & Welch
1965, Phys. Fluids 8 2182); u on the x-faces, v on the y-faces, the walls on y-faces. Explicit
Runge-Kutta time stepping with a pressure projection after every stage
(`jax_cfd.base.time_stepping.navier_stokes_rk`; Sanderse & Koren 2012), the Poisson equation
solved by fast diagonalisation with the channel's boundary conditions
(`pressure.solve_fast_diag_channel_flow`), diffusion by jax-cfd's 5-point Laplacian with the
walls' ghost values (`diffusion.diffuse`), boundaries by `boundaries.channel_flow_boundary_
conditions`. jax-cfd 0.2.1's advection refuses non-periodic boundaries (`advect_general` raises
NotImplementedError; `convect_linear` fails imposing its flux conditions), so the convection term
is written here: the second-order divergence form on the staggered grid, which conserves kinetic
energy when the discrete divergence vanishes (Morinishi et al. 1998, J. Comput. Phys. 143 90;
tests/test_simulate_channel.py checks it).

No shim: the two failures of jax-cfd 0.2.1's finite-volume code on jax >= 0.6 (the removed
`jax.tree_map` aliases; None passed to `jnp.pad` as the boundary value of a periodic axis) lie in
code this solver does not call: the aliases in jax-cfd's array splitting and LES models, the None
values in the flux conditions of its advection. The channel's velocity conditions are homogeneous
(zeros on every axis). tests/test_simulate_channel.py runs the solver without the aliases and
checks that jax-cfd's advection still refuses walls.

Stored fields: the data contract's cell-centred (vorticity, u, v): u and v averaged from their
faces to the cell centres; the vorticity dv/dx - du/dy at the cell corners (at a wall, du/dy from
the mirror ghost value -u that puts u = 0 on the wall), averaged from the four corners of each
cell. Cell centres sit at ((i + 1/2) dx, (j + 1/2) dy), so no stored point lies on a wall.

Time step: explicit diffusion is stable for dt (8 nu / dx^2 + alpha) <= R, with R the stability
limit of the Runge-Kutta scheme on the negative real axis (`flex.simulate.stability`); the
configuration check refuses a time step above it before any job runs.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax_cfd.base import boundaries, diffusion, equations, grids, pressure, time_stepping

from flex.config import SimulationJob
from flex.simulate.equations import ForcedVorticityEquation, make_grid
from flex.simulate.initial import initial_vorticity_hat
from flex.simulate.solver import time_discretisation

TIME_STEPPERS = {
    "forward_euler": time_stepping.forward_euler,
    "midpoint_rk2": time_stepping.midpoint_rk2,
    "heun_rk2": time_stepping.heun_rk2,
    "classic_rk4": time_stepping.classic_rk4,
}
"""jax-cfd's explicit Runge-Kutta schemes, by the name used in `held_out_boundary.time_stepper`."""


def _below(v: jnp.ndarray) -> jnp.ndarray:
    """v on the y-face below each cell: the row underneath, zero on the lower wall."""
    return jnp.pad(v[:, :-1], ((0, 0), (1, 0)))


def face_means(u: jnp.ndarray, v: jnp.ndarray) -> tuple:
    """u and v at the cell centres: the mean of each cell's two faces (layout of `convection`)."""
    return 0.5 * (u + jnp.roll(u, 1, axis=0)), 0.5 * (v + _below(v))


def convection(u: jnp.ndarray, v: jnp.ndarray, dx: float, dy: float) -> tuple:
    """-(div(u u), div(u v)) on the staggered grid, in conservative (divergence) form.

    Layout [x, y]: u[i, j] at ((i+1) dx, (j+1/2) dy); v[i, j] at ((i+1/2) dx, (j+1) dy), with
    v[:, -1] on the upper wall (zero) and the lower wall (v = 0) not stored. Fluxes: u^2 and v^2
    at the cell centres from the mean of the two neighbouring faces; u v at the cell corners from
    the mean of u across y and of v across x; the flux u v vanishes on the walls (v = 0 there).
    The tendency of the wall row of v is zero.
    """
    u_centre, v_centre = face_means(u, v)
    flux_xx, flux_yy = u_centre**2, v_centre**2
    u_corner = 0.5 * (u + jnp.pad(u[:, 1:], ((0, 0), (0, 1))))  # the top row is multiplied by v = 0
    v_corner = 0.5 * (v + jnp.roll(v, -1, axis=0))
    flux_xy = u_corner * v_corner  # at ((i+1) dx, (j+1) dy); zero on the upper wall
    flux_xy_below = jnp.pad(flux_xy[:, :-1], ((0, 0), (1, 0)))  # zero on the lower wall
    du = -((jnp.roll(flux_xx, -1, axis=0) - flux_xx) / dx + (flux_xy - flux_xy_below) / dy)
    flux_yy_above = jnp.pad(flux_yy[:, 1:], ((0, 0), (0, 1)))
    dv = -((flux_xy - jnp.roll(flux_xy, 1, axis=0)) / dx + (flux_yy_above - flux_yy) / dy)
    return du, dv.at[:, -1].set(0.0)


def corner_vorticity(u: jnp.ndarray, v: jnp.ndarray, dx: float, dy: float) -> jnp.ndarray:
    """dv/dx - du/dy at the cell corners ((i+1) dx, j dy), j = 0..N (both walls included)."""
    v_rows = jnp.pad(v, ((0, 0), (1, 0)))  # v at y = j dy; zero on both walls
    dv_dx = (jnp.roll(v_rows, -1, axis=0) - v_rows) / dx
    u_ghosts = jnp.concatenate([-u[:, :1], u, -u[:, -1:]], axis=1)  # u = 0 on the walls
    du_dy = (u_ghosts[:, 1:] - u_ghosts[:, :-1]) / dy
    return dv_dx - du_dy


def cell_centred(u: jnp.ndarray, v: jnp.ndarray, dx: float, dy: float) -> jnp.ndarray:
    """(vorticity, u, v) at the cell centres, stacked: (3, N, N), layout [x, y]."""
    corners = corner_vorticity(u, v, dx, dy)
    across_x = 0.5 * (corners + jnp.roll(corners, 1, axis=0))
    vorticity = 0.5 * (across_x[:, :-1] + across_x[:, 1:])
    return jnp.stack([vorticity, *face_means(u, v)])


def divergence(u: jnp.ndarray, v: jnp.ndarray, dx: float, dy: float) -> jnp.ndarray:
    """du/dx + dv/dy in each cell (the discrete divergence the projection removes)."""
    return (u - jnp.roll(u, 1, axis=0)) / dx + (v - _below(v)) / dy


def velocity_from_stream_function(psi: jnp.ndarray, dx: float, dy: float) -> tuple:
    """(u, v) = (d psi / dy, -d psi / dx) from psi at the corners ((i+1) dx, j dy), j = 0..N.

    Exactly divergence-free on the staggered grid; v = 0 on a wall where psi is constant.
    """
    u = (psi[:, 1:] - psi[:, :-1]) / dy
    v = -(psi[:, 1:] - jnp.roll(psi, 1, axis=0)[:, 1:]) / dx
    return u, v


class ChannelSolver:
    """Finite-volume time stepping of the wall-bounded flow; the interface of `Solver`."""

    def __init__(self, job: SimulationJob) -> None:
        sim, physics = job.simulate, job.physics
        self.job = job
        self.dtype = jnp.dtype(sim.dtype)
        length, n = physics.domain_length, sim.grid_size
        self.grid = grids.Grid((n, n), domain=((0.0, length), (0.0, length)))
        self.spacing = length / n
        self.bc = boundaries.channel_flow_boundary_conditions(ndim=2)
        self.timing = time_discretisation(sim, length)
        y_u = self.grid.axes(offset=self.grid.cell_faces[0])[1]
        self.forcing_x = physics.forcing_amplitude * jnp.sin(physics.forcing_wavenumber * y_u)
        self.step: Callable = equations.semi_implicit_navier_stokes(
            density=1.0,
            viscosity=job.viscosity,
            dt=self.timing.time_step,
            grid=self.grid,
            convect=self._convect,
            diffuse=self._diffuse,
            pressure_solve=pressure.solve_fast_diag_channel_flow,
            forcing=self._forcing,
            time_stepper=TIME_STEPPERS[job.boundary_time_stepper],
        )
        self.diagnostics = ChannelDiagnostics(self.spacing, self.timing.time_step,
                                              sim.resolution_band_start, job.viscosity)  # fmt: skip
        self._compiled: dict[int, Callable] = {}

    # -- the terms of the equation -------------------------------------------------------------

    def _convect(self, velocity) -> tuple:
        u, v = (component.data for component in velocity)
        du, dv = convection(u, v, self.spacing, self.spacing)
        return tuple(grids.GridArray(d, c.offset, self.grid)
                     for d, c in zip((du, dv), velocity, strict=True))  # fmt: skip

    @staticmethod
    def _diffuse(component, viscosity: float):
        """nu lap(c) (jax-cfd), with no tendency for the values on a wall (v on the walls stays
        zero: the projection's divergence would otherwise leave the wall flux in the cells next
        to the wall when the boundary condition zeroes it again)."""
        return component.bc.impose_bc(diffusion.diffuse(component, viscosity)).array

    def _forcing(self, velocity) -> tuple:
        u, v = velocity
        drag = self.job.physics.drag
        fx = self.forcing_x[None, :] - drag * u.data
        return (grids.GridArray(fx, u.offset, self.grid),
                grids.GridArray(-drag * v.data, v.offset, self.grid))  # fmt: skip

    def wrap(self, u: jnp.ndarray, v: jnp.ndarray) -> tuple:
        """Raw face arrays as jax-cfd's velocity (GridVariables with the channel conditions)."""
        return tuple(
            grids.GridVariable(grids.GridArray(a, offset, self.grid), self.bc).impose_bc()
            for a, offset in zip((u, v), self.grid.cell_faces, strict=True)
        )

    # -- the interface of `Solver` -------------------------------------------------------------

    def initial_state(self) -> tuple:
        """The periodic run's random field of the same seed, made wall-bounded.

        psi = psi_periodic(x, y) sin^2(pi y / L): psi and d psi / dy vanish on the walls, so
        the velocity from it is divergence-free, has no normal component on the walls and a
        tangential one of order dy^2 (the first projection removes the rest). Scaled so that
        max |u| at the cell centres is `simulate.initial_max_velocity`.
        """
        sim, physics = self.job.simulate, self.job.physics
        periodic = ForcedVorticityEquation(
            grid=make_grid(sim.grid_size, physics.domain_length), viscosity=self.job.viscosity,
            drag=physics.drag, forcing_wavenumber=physics.forcing_wavenumber,
            forcing_amplitude=physics.forcing_amplitude, dealias=sim.dealias,
        )  # fmt: skip
        vorticity_hat = initial_vorticity_hat(self.job.seed, periodic, sim.initial_peak_wavenumber,
                                              1.0, self.dtype)  # fmt: skip
        psi = jnp.fft.irfft2(vorticity_hat * periodic.inverse_k_squared, s=self.grid.shape)
        psi = jnp.roll(psi, -1, axis=0)  # x = (i+1) dx
        psi = jnp.concatenate([psi, psi[:, :1]], axis=1)  # y = j dy, j = 0..N (periodic in y)
        y = jnp.arange(sim.grid_size + 1) * self.spacing
        psi = psi * jnp.sin(jnp.pi * y / physics.domain_length)[None, :] ** 2
        u, v = velocity_from_stream_function(psi, self.spacing, self.spacing)
        _, u_c, v_c = cell_centred(u, v, self.spacing, self.spacing)
        scale = sim.initial_max_velocity / jnp.sqrt(u_c**2 + v_c**2).max()
        velocity = self.wrap((u * scale).astype(self.dtype), (v * scale).astype(self.dtype))
        return pressure.projection(velocity, pressure.solve_fast_diag_channel_flow)

    def coordinates(self) -> jnp.ndarray:
        """Cell centres (j + 1/2) dx, for x and y (walls at 0 and domain_length)."""
        return self.grid.axes(offset=(0.5, 0.5))[0]

    def fields(self, velocity) -> jnp.ndarray:
        """(vorticity, u, v) at the cell centres, (3, y, x): the data-contract layout."""
        u, v = (component.data for component in velocity)
        return jnp.swapaxes(cell_centred(u, v, self.spacing, self.spacing), -1, -2)

    def _save_interval(self, state, _) -> tuple:
        steps = self.timing.steps_per_save
        state = jax.lax.fori_loop(0, steps, lambda _, s: self.step(s), state)
        u, v = (component.data for component in state)
        fields = self.fields(state)
        return state, (fields, self.diagnostics(u, v, fields))

    def advance(self, state, saves: int) -> tuple:
        """Run `saves` save intervals; returns (state, fields (saves, 3, y, x), diagnostics)."""
        if saves not in self._compiled:
            self._compiled[saves] = jax.jit(
                lambda s: jax.lax.scan(self._save_interval, s, None, length=saves)
            )
        state, (fields, diagnostics) = self._compiled[saves](state)
        return state, fields, diagnostics


class ChannelDiagnostics:
    """The periodic runs' diagnostics, for the staggered channel fields.

    Kinetic energy from the faces (the quantity the scheme's energy budget is written in):
    E = (sum u^2 + sum v^2) / (2 N^2). Enstrophy from the stored cell-centred vorticity.
    Resolution: the enstrophy spectrum along x (periodic) at each y,
    f_band = sum_{|k_x| >= b k_c} Z / sum Z, with k_c = N / 2 (2 pi / L) (no dealiasing); and at
    the walls, the distance of the first u point from the wall in viscous units,
    y+ = (dy / 2) u_tau / nu with u_tau = sqrt(nu |du/dy|_wall), |du/dy|_wall = 2 |u| / dy (the
    largest over both walls; `wall_yplus`; a wall-resolved run keeps it of order 1).
    """

    def __init__(self, spacing: float, time_step: float, band_start: float,
                 viscosity: float) -> None:  # fmt: skip
        self.spacing, self.time_step, self.band_start = spacing, time_step, band_start
        self.viscosity = viscosity
        self.cutoff_wavenumber = jnp.pi / spacing

    def __call__(self, u: jnp.ndarray, v: jnp.ndarray, fields: jnp.ndarray) -> dict:
        vorticity, u_c, v_c = fields
        speed_squared = u_c**2 + v_c**2
        spectrum = jnp.abs(jnp.fft.rfft(vorticity, axis=-1)) ** 2  # along x: (y, k_x)
        k_x = jnp.arange(spectrum.shape[-1]) * (2 * jnp.pi / (self.spacing * vorticity.shape[-1]))
        weights = jnp.where((k_x == 0) | (k_x == self.cutoff_wavenumber), 1.0, 2.0)
        band = k_x >= self.band_start * self.cutoff_wavenumber
        modes = spectrum * weights
        return {
            "finite": jnp.isfinite(fields).all() & jnp.isfinite(u).all() & jnp.isfinite(v).all(),
            "courant_number": jnp.sqrt(speed_squared.max()) * self.time_step / self.spacing,
            "kinetic_energy": 0.5 * ((u**2).sum() + (v**2).sum()) / u.size,
            "enstrophy": 0.5 * (vorticity**2).mean(),
            "band_enstrophy_fraction": jnp.where(band, modes, 0.0).sum() / modes.sum(),
            "wall_yplus": self.wall_yplus(u),
        }

    def wall_yplus(self, u: jnp.ndarray) -> jnp.ndarray:
        """Largest y+ of the first u points next to the two walls."""
        shear = 2 * jnp.abs(jnp.concatenate([u[:, 0], u[:, -1]])) / self.spacing
        return (self.spacing / 2) * jnp.sqrt(shear.max() / self.viscosity)
