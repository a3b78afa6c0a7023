"""Physics of the solver against closed forms and against jax-cfd's own equation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_cfd.base import forcings
from jax_cfd.spectral import equations as jax_cfd_equations
from jax_cfd.spectral import time_stepping

from flex.simulate.equations import ForcedVorticityEquation, make_grid
from flex.simulate.solver import Solver
from tests.conftest import make_job

TWO_PI = 2 * np.pi


def _advance(equation, vorticity_hat, time_step, steps):
    step = time_stepping.crank_nicolson_rk4(equation, time_step)
    return jax.jit(lambda w: jax.lax.fori_loop(0, steps, lambda _, s: step(s), w))(vorticity_hat)


def _taylor_green(grid, k):
    """omega = 2 k sin(k x) sin(k y): an exact steady solution of the Euler equations."""
    x, y = grid.mesh(offset=(0.0, 0.0))
    return 2 * k * jnp.sin(k * x) * jnp.sin(k * y)


@pytest.mark.parametrize("k", [1, 3])
def test_taylor_green_decays_as_exp_minus_2_nu_k2_t(k):
    grid = make_grid(64, TWO_PI)
    viscosity, time_step, steps = 0.01, 0.01, 200
    equation = ForcedVorticityEquation(grid, viscosity, drag=0.0, forcing_wavenumber=4,
                                       forcing_amplitude=0.0)  # fmt: skip
    omega0 = _taylor_green(grid, k)
    final = jnp.fft.irfft2(
        _advance(equation, jnp.fft.rfft2(omega0), time_step, steps), s=grid.shape
    )
    expected = omega0 * np.exp(-2 * viscosity * k**2 * time_step * steps)
    error = float(jnp.abs(final - expected).max() / jnp.abs(expected).max())
    assert error < 2e-5, error


def test_higher_viscosity_decays_faster():
    grid = make_grid(64, TWO_PI)
    omega0 = jax.random.normal(jax.random.PRNGKey(0), grid.shape)
    enstrophy = {}
    for viscosity in (1e-3, 1e-2):
        equation = ForcedVorticityEquation(grid, viscosity, 0.0, 4, 0.0)
        omega0_hat = jnp.fft.rfft2(omega0) * equation.dealias_filter
        final = _advance(equation, omega0_hat, 0.005, 200)
        enstrophy[viscosity] = float(jnp.sum(jnp.abs(final) ** 2))
    assert enstrophy[1e-2] < 0.5 * enstrophy[1e-3]


def test_explicit_terms_match_jax_cfd_navier_stokes_2d():
    """Our equation is jax-cfd's NavierStokes2D with Kolmogorov forcing, to float32 accuracy."""
    grid = make_grid(64, TWO_PI)
    ours = ForcedVorticityEquation(grid, 1 / 500, drag=0.1, forcing_wavenumber=4,
                                   forcing_amplitude=1.0)  # fmt: skip
    reference = jax_cfd_equations.NavierStokes2D(
        1 / 500, grid, drag=0.1, smooth=True,
        forcing_fn=lambda g: forcings.kolmogorov_forcing(g, k=4, offsets=((0, 0), (0, 0))),
    )  # fmt: skip
    omega_hat = jnp.fft.rfft2(jax.random.normal(jax.random.PRNGKey(1), grid.shape))
    omega_hat = omega_hat * ours.dealias_filter
    ours_terms, ref_terms = ours.explicit_terms(omega_hat), reference.explicit_terms(omega_hat)
    assert float(jnp.linalg.norm(ours_terms - ref_terms) / jnp.linalg.norm(ref_terms)) < 1e-5
    np.testing.assert_allclose(ours.linear_term, reference.linear_term, rtol=1e-6)
    after_ours = _advance(ours, omega_hat, 0.01, 50)
    after_ref = _advance(reference, omega_hat, 0.01, 50)
    assert float(jnp.linalg.norm(after_ours - after_ref) / jnp.linalg.norm(after_ref)) < 1e-4


def test_no_nan_over_many_steps(tiny_config):
    job = make_job(tiny_config, reynolds_number=80.0, num_snapshots=1, spinup_time=0.0)
    solver = Solver(job)
    _, fields, diagnostics = solver.advance(solver.initial_state(), 100)  # ~2900 steps
    assert bool(np.all(np.isfinite(np.asarray(fields))))
    assert bool(np.all(np.asarray(diagnostics["finite"])))


def test_forced_flow_is_statistically_steady_and_balances_energy(tiny_config):
    """After spin-up the mean energy stops drifting, and the energy budget closes:
    dE/dt = P - nu <omega^2> - 2 alpha E with injection P = A <sin(k_f y) u>."""
    job = make_job(tiny_config, reynolds_number=40.0, save_interval=0.05)
    solver = Solver(job)
    state, _, _ = solver.advance(solver.initial_state(), 400)  # spin-up to t = 20
    _, fields, diagnostics = solver.advance(state, 800)  # t = 20 .. 60
    energy = np.asarray(diagnostics["kinetic_energy"])
    first, second = energy[:400].mean(), energy[400:].mean()
    assert abs(first - second) / second < 0.1, (first, second)

    fields = np.asarray(fields, dtype=np.float64)  # (time, 3, y, x)
    vorticity, u = fields[:, 0], fields[:, 1]
    y = np.asarray(solver.coordinates())[None, :, None]
    physics = job.physics
    injection = physics.forcing_amplitude * (np.sin(physics.forcing_wavenumber * y) * u).mean(
        (1, 2)
    )
    dissipation = job.viscosity * (vorticity**2).mean((1, 2)) + 2 * physics.drag * energy
    duration = solver.timing.save_interval * (len(energy) - 1)
    drift = (energy[-1] - energy[0]) / duration
    balance = np.trapezoid(injection - dissipation, dx=solver.timing.save_interval) / duration
    assert abs(balance - drift) < 0.005 * injection.mean(), (balance, drift, injection.mean())
