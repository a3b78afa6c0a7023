"""Forced 2D incompressible Navier-Stokes in vorticity form, pseudo-spectral.

The equation on the periodic box [0, L)^2 (Kochkov et al. 2021, PNAS 118 e2101784118; Boffetta &
Ecke 2012, Annu. Rev. Fluid Mech. 44 427):

    d(omega)/dt + u . grad(omega) = nu lap(omega) - alpha omega + f_omega,
    f_omega = curl(A sin(k_f y), 0) = -A k_f cos(k_f y)                       (Kolmogorov forcing)

with nu = 1 / Re, linear drag alpha and forcing amplitude A at wavenumber k_f. The velocity comes
from the stream function: lap(psi) = -omega, u = d(psi)/dy, v = -d(psi)/dx.

It is split for jax-cfd's implicit-explicit time stepping (`jax_cfd.spectral.time_stepping`): the
linear part nu lap - alpha is implicit (Crank-Nicolson); advection and forcing are explicit (RK).

`ForcedVorticityEquation` is the same equation as jax-cfd's `spectral.equations.NavierStokes2D`
with `forcings.kolmogorov_forcing(offsets=((0, 0), (0, 0)))`, written so that one explicit
evaluation needs only the minimal transforms: four inverse FFTs (u, v, d_x omega, d_y omega) and
one forward FFT of the advection term; the forcing is constant in spectral space and transformed
once. (Batching the four inverse FFTs on a stacked array was measured ~35% slower per step on CPU
at 256^2, the stack costing a copy: see bench/README.md.) tests/test_simulate_physics.py checks
both equations against each other to float32 accuracy.

jax-cfd arrays are indexed [x, y]; the data contract stores (y, x): `to_contract_layout` is the one
place that transposes.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from jax_cfd.base import grids
from jax_cfd.spectral import time_stepping
from jax_cfd.spectral import utils as spectral_utils

TIME_STEPPERS = {
    "crank_nicolson_rk4": time_stepping.crank_nicolson_rk4,
    "crank_nicolson_rk3": time_stepping.crank_nicolson_rk3,
    "crank_nicolson_rk2": time_stepping.crank_nicolson_rk2,
    "imex_rk_sil3": time_stepping.imex_rk_sil3,
}
"""Implicit-explicit schemes of jax-cfd, by the name used in config (`simulate.time_stepper`)."""


def make_grid(grid_size: int, domain_length: float) -> grids.Grid:
    """Square periodic grid of `grid_size`^2 points on [0, domain_length)^2."""
    return grids.Grid((grid_size, grid_size), domain=((0.0, domain_length), (0.0, domain_length)))


def wavenumbers(grid: grids.Grid) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Angular wavenumbers (k_x, k_y) = 2 pi (rfft_mesh) on the rfft half-plane, indexed [x, y]."""
    kx, ky = grid.rfft_mesh()
    return 2 * jnp.pi * kx, 2 * jnp.pi * ky


@dataclasses.dataclass
class ForcedVorticityEquation(time_stepping.ImplicitExplicitODE):
    """Kolmogorov-forced vorticity equation with linear drag, split implicit/explicit.

    Implicit: (nu lap - alpha) omega_hat = -(nu |k|^2 + alpha) omega_hat.
    Explicit: -FFT[u d_x(omega) + v d_y(omega)] * dealias + FFT[f_omega].

    Attributes:
        grid: jax-cfd grid of the box.
        viscosity: nu = 1 / Re.
        drag: alpha, linear (Ekman-like) drag.
        forcing_wavenumber: k_f of the Kolmogorov forcing sin(k_f y).
        forcing_amplitude: A.
        dealias: apply the 2/3-rule brick-wall filter to the advection term (jax-cfd's `smooth`).
    """

    grid: grids.Grid
    viscosity: float
    drag: float
    forcing_wavenumber: int
    forcing_amplitude: float
    dealias: bool = True

    def __post_init__(self) -> None:
        kx, ky = wavenumbers(self.grid)
        self.ikx = 1j * kx
        self.iky = 1j * ky
        k_squared = kx**2 + ky**2
        self.linear_term = -self.viscosity * k_squared - self.drag
        # psi_hat = omega_hat / |k|^2 (the mean mode has no stream function)
        self.inverse_k_squared = jnp.where(k_squared == 0, 0.0, 1.0 / k_squared.at[0, 0].set(1.0))
        if self.dealias:
            self.dealias_filter = spectral_utils.brick_wall_filter_2d(self.grid)
        else:
            self.dealias_filter = jnp.ones(kx.shape)
        y = self.grid.mesh(offset=(0.0, 0.0))[1]
        k_f = self.forcing_wavenumber
        forcing = -self.forcing_amplitude * k_f * jnp.cos(k_f * y)
        self.forcing_hat = jnp.fft.rfft2(forcing)

    def velocity_hat(self, vorticity_hat: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        """(u_hat, v_hat) = (i k_y psi_hat, -i k_x psi_hat), psi_hat = omega_hat / |k|^2."""
        psi_hat = vorticity_hat * self.inverse_k_squared
        return self.iky * psi_hat, -self.ikx * psi_hat

    def explicit_terms(self, vorticity_hat: jnp.ndarray) -> jnp.ndarray:
        u_hat, v_hat = self.velocity_hat(vorticity_hat)  # (nx, ny//2+1) each
        u, v = self._irfft2(u_hat), self._irfft2(v_hat)  # (nx, ny)
        d_x_omega = self._irfft2(self.ikx * vorticity_hat)
        d_y_omega = self._irfft2(self.iky * vorticity_hat)
        advection_hat = jnp.fft.rfft2(-(u * d_x_omega + v * d_y_omega))
        return advection_hat * self.dealias_filter + self.forcing_hat

    def _irfft2(self, field_hat: jnp.ndarray) -> jnp.ndarray:
        return jnp.fft.irfft2(field_hat, s=self.grid.shape)

    def implicit_terms(self, vorticity_hat: jnp.ndarray) -> jnp.ndarray:
        return self.linear_term * vorticity_hat

    def implicit_solve(self, vorticity_hat: jnp.ndarray, time_step: float) -> jnp.ndarray:
        """Solves y - dt * linear_term * y = x for y."""
        return vorticity_hat / (1 - time_step * self.linear_term)

    def real_fields(self, vorticity_hat: jnp.ndarray) -> jnp.ndarray:
        """(vorticity, u, v) in real space, stacked: (3, nx, ny), jax-cfd layout [x, y]."""
        u_hat, v_hat = self.velocity_hat(vorticity_hat)
        return jnp.fft.irfft2(jnp.stack([vorticity_hat, u_hat, v_hat]), s=self.grid.shape)


def to_contract_layout(fields_xy: jnp.ndarray) -> jnp.ndarray:
    """Swap the last two axes: jax-cfd's [..., x, y] to the data contract's [..., y, x]."""
    return jnp.swapaxes(fields_xy, -1, -2)
