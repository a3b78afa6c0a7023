"""The wall-bounded simulation (flex.simulate.channel): the shim that lets jax-cfd 0.2.1's
finite-volume path run, closed-form flows between no-slip walls, the discrete operators, the
energy budget, and the stage's file for a channel trajectory."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from flex import dims
from flex.config import BOUNDARIES, ConfigError
from flex.config.load import load_study, read_yaml
from flex.errors import StageFailure
from flex.simulate import channel, stability
from flex.simulate.run import SimulationBlowUp, make_solver, run
from flex.simulate.solver import configure_jax
from tests.conftest import SCHEMA, TINY, make_job, simulate_execution


@pytest.fixture(scope="module")
def tiny_raw():
    return read_yaml(TINY)


def channel_job(raw, reynolds_number=40.0, seed=11, physics=None, **simulate):
    """A channel SimulationJob of the tiny study (float64 unless given), with simulate and physics
    settings overridden past the study's checks (grids smaller than its patches)."""
    job = make_job(raw, reynolds_number, seed)
    job = dataclasses.replace(
        job,
        boundary="channel",
        boundary_time_stepper="classic_rk4",
        simulate=dataclasses.replace(job.simulate, **{"dtype": "float64", **simulate}),
    )
    if physics:
        job = dataclasses.replace(job, physics=dataclasses.replace(job.physics, **physics))
    configure_jax(job.simulate)
    return job


def centres(solver) -> np.ndarray:
    return np.asarray(solver.coordinates())


def run_steps(solver, state, steps):
    """`steps` solver steps (whole save intervals), returning the state."""
    saves = steps // solver.timing.steps_per_save
    state, _, _ = solver.advance(state, saves)
    return state


def shear_flow(solver, profile: np.ndarray):
    """A parallel flow u(y) (given at the cell centres), v = 0, as the solver's state."""
    n = solver.job.simulate.grid_size
    u = jnp.asarray(np.broadcast_to(profile, (n, n)).copy(), dtype=solver.dtype)
    return solver.wrap(u, jnp.zeros((n, n), dtype=solver.dtype))


# -- jax-cfd on the pinned jax ------------------------------------------------------------------


def test_runs_on_the_pinned_jax_without_the_removed_tree_aliases(tiny_raw):
    """jax 0.6 removed `jax.tree_map` and friends, which parts of jax-cfd 0.2.1 call; the parts
    the channel solver uses do not: it steps with no alias restored."""
    import jax

    assert not hasattr(jax, "tree_map")
    solver = channel.ChannelSolver(channel_job(tiny_raw, grid_size=16))
    _, fields, _ = solver.advance(solver.initial_state(), 1)
    assert np.isfinite(np.asarray(fields)).all()


def test_jax_cfd_advection_still_refuses_walls(tiny_raw):
    """Why the convection term is the project's own: jax-cfd 0.2.1 does not advect a field with
    walls. Should a release do it, this test says so."""
    from jax_cfd.base import advection

    solver = channel.ChannelSolver(channel_job(tiny_raw, grid_size=16))
    state = solver.initial_state()
    with pytest.raises(NotImplementedError, match="Non-periodic"):
        advection.advect_linear(state[0], state)


# -- closed forms -------------------------------------------------------------------------------


@pytest.mark.parametrize("grid_size", [16, 32])
def test_body_force_gives_the_parabolic_profile(tiny_raw, grid_size):
    """Plane Poiseuille flow: a constant body force F between no-slip walls, without drag, ends
    in u = F y (L - y) / (2 nu). The second-order scheme holds it to O(dy^2)."""
    job = channel_job(tiny_raw, reynolds_number=2.0, grid_size=grid_size, save_interval=1.0,
                      physics={"drag": 0.0})  # fmt: skip
    solver = channel.ChannelSolver(job)
    force = 0.5
    solver.forcing_x = jnp.full(grid_size, force)
    state = shear_flow(solver, np.zeros(grid_size))
    decay_rate = job.viscosity * (np.pi / job.physics.domain_length) ** 2
    saves = int(np.ceil(30 / decay_rate))  # e^-30 of the start left
    state, _, _ = solver.advance(state, saves)
    y, length = centres(solver), job.physics.domain_length
    exact = force * y * (length - y) / (2 * job.viscosity)
    u = np.asarray(state[0].data)
    error = np.abs(u - exact[None, :]).max() / exact.max()
    assert error < 2.0 / grid_size**2, error
    np.testing.assert_allclose(np.asarray(state[1].data), 0.0, atol=1e-10 * exact.max())


def test_kolmogorov_forcing_gives_its_laminar_profile_between_walls(tiny_raw):
    """The study's own forcing at low Re: u = A sin(k_f y) / (nu k_f^2 + alpha) satisfies the
    walls (k_f L a multiple of 2 pi) and is the steady laminar state."""
    job = channel_job(
        tiny_raw, reynolds_number=1.0, grid_size=64, save_interval=1.0, time_step=0.003
    )  # below the diffusive limit 0.0034 at Re = 1
    solver = channel.ChannelSolver(job)
    physics = job.physics
    state = shear_flow(solver, np.zeros(64))
    state, _, _ = solver.advance(state, 30)
    k = physics.forcing_wavenumber
    y = centres(solver)
    exact = physics.forcing_amplitude * np.sin(k * y) / (job.viscosity * k**2 + physics.drag)
    u = np.asarray(state[0].data)
    # the 5-point Laplacian's eigenvalue of sin(k y): (2 - 2 cos(k dy)) / dy^2, not k^2
    np.testing.assert_allclose(u, np.broadcast_to(exact, u.shape), atol=0.02 * exact.max())


@pytest.mark.parametrize("mode", [1, 3])
def test_wall_bounded_shear_mode_decays_at_its_analytic_rate(tiny_raw, mode):
    """u = sin(n pi y / L), unforced: the nonlinear term vanishes (parallel flow) and the mode
    decays as exp(-(nu (n pi / L)^2 + alpha) t) (the discrete rate to O(dy^2))."""
    job = channel_job(tiny_raw, reynolds_number=10.0, grid_size=64, save_interval=0.5,
                      physics={"forcing_amplitude": 0.0})  # fmt: skip
    solver = channel.ChannelSolver(job)
    y, length = centres(solver), job.physics.domain_length
    shape = np.sin(mode * np.pi * y / length)
    state = shear_flow(solver, shape)
    saves = 8
    state, _, _ = solver.advance(state, saves)
    time = saves * solver.timing.save_interval
    rate = job.viscosity * (mode * np.pi / length) ** 2 + job.physics.drag
    u = np.asarray(state[0].data)
    exact = np.broadcast_to(np.exp(-rate * time) * shape, u.shape)
    np.testing.assert_allclose(u, exact, atol=2e-3 * exact.max())


# -- discrete operators -------------------------------------------------------------------------


def random_divergence_free(n: int, spacing: float, seed: int = 0):
    """(u, v) from a random stream function that is zero on both walls."""
    rng = np.random.default_rng(seed)
    psi = rng.standard_normal((n, n + 1))
    psi[:, 0] = psi[:, -1] = 0.0
    return channel.velocity_from_stream_function(jnp.asarray(psi), spacing, spacing)


def test_convection_conserves_kinetic_energy_of_a_divergence_free_field():
    """sum(u C_u) + sum(v C_v) = 0 for the divergence form when div u = 0 (Morinishi et al.
    1998), with walls; a field with divergence does not conserve it."""
    n, spacing = 24, 0.3
    u, v = random_divergence_free(n, spacing)
    assert float(jnp.abs(channel.divergence(u, v, spacing, spacing)).max()) < 1e-12
    assert float(jnp.abs(v[:, -1]).max()) == 0.0  # no flow through the wall
    du, dv = channel.convection(u, v, spacing, spacing)
    scale = float(jnp.abs(u * du).sum() + jnp.abs(v * dv).sum())
    assert abs(float((u * du).sum() + (v * dv).sum())) < 1e-12 * scale
    bumped = u.at[3, 5].add(1.0)  # now divergent
    du, dv = channel.convection(bumped, v, spacing, spacing)
    assert abs(float((bumped * du).sum() + (v * dv).sum())) > 1e-6 * scale


def analytic_channel_flow(n: int, length: float):
    """psi = cos(x) (1 - cos y)^2 / 4: no-slip at y = 0 and L = 2 pi. Returns the staggered
    velocity and the exact cell-centred (vorticity, u, v)."""
    dx = length / n
    x_face, x_centre = (np.arange(n) + 1) * dx, (np.arange(n) + 0.5) * dx
    y_face, y_centre = (np.arange(n) + 1) * dx, (np.arange(n) + 0.5) * dx

    def u(x, y):  # d psi / dy
        return np.cos(x) * (1 - np.cos(y)) * np.sin(y) / 2

    def v(x, y):  # -d psi / dx
        return np.sin(x) * (1 - np.cos(y)) ** 2 / 4

    def vorticity(x, y):  # -lap psi
        psi_yy = np.cos(x) * (np.sin(y) ** 2 + (1 - np.cos(y)) * np.cos(y)) / 2
        return np.cos(x) * (1 - np.cos(y)) ** 2 / 4 - psi_yy

    staggered = (u(x_face[:, None], y_centre[None, :]), v(x_centre[:, None], y_face[None, :]))
    exact = [f(x_centre[:, None], y_centre[None, :]) for f in (vorticity, u, v)]
    return staggered, np.stack(exact), dx


def test_cell_centred_fields_converge_to_the_analytic_flow_at_second_order():
    errors = []
    for n in (32, 64):
        (u, v), exact, dx = analytic_channel_flow(n, 2 * np.pi)
        fields = np.asarray(channel.cell_centred(jnp.asarray(u), jnp.asarray(v), dx, dx))
        errors.append(np.abs(fields - exact).max(axis=(1, 2)))
    order = np.log2(errors[0] / errors[1])
    assert (order > 1.8).all(), (errors, order)


# -- the forced flow ----------------------------------------------------------------------------


def test_forced_flow_stays_divergence_free_no_slip_and_balances_energy(tiny_raw):
    """The turbulent run: divergence and wall velocity at round-off after every save; the energy
    budget dE/dt = P - nu <|grad u|^2> - 2 alpha E closes, with P = A <sin(k_f y) u> and the
    dissipation from the corner vorticity, walls included (for no-slip walls and div u = 0,
    <|grad u|^2> = <omega^2>; on the staggered grid the sum over corners by parts gives the
    corners on the walls half the weight, the trapezoidal rule across y)."""
    job = channel_job(tiny_raw, reynolds_number=40.0, save_interval=0.05)
    solver = channel.ChannelSolver(job)
    state = run_steps(solver, solver.initial_state(), 200 * solver.timing.steps_per_save)
    spacing, physics = solver.spacing, job.physics
    energies, injections, dissipations = [], [], []
    y_u = centres(solver)
    for _ in range(400):
        state, _, diagnostics = solver.advance(state, 1)
        u, v = (np.asarray(c.data) for c in state)
        assert np.abs(np.asarray(channel.divergence(u, v, spacing, spacing))).max() < 1e-10
        assert np.abs(v[:, -1]).max() == 0.0
        u_padded = state[0].bc.pad(state[0].array, -1, axis=1).data  # jax-cfd's ghost below
        assert np.abs(u_padded[:, 0] + u_padded[:, 1]).max() < 1e-12  # u = 0 on the wall
        energies.append(float(diagnostics["kinetic_energy"][0]))
        injections.append(physics.forcing_amplitude * (np.sin(physics.forcing_wavenumber * y_u)
                                                       * u).mean())  # fmt: skip
        corners = np.asarray(channel.corner_vorticity(u, v, spacing, spacing)) ** 2
        corners[:, [0, -1]] *= 0.5  # the wall rows
        dissipations.append(job.viscosity * corners.sum() / u.size)
    energy, injection = np.array(energies), np.array(injections)
    loss = np.array(dissipations) + 2 * physics.drag * energy
    interval = solver.timing.save_interval
    duration = interval * (len(energy) - 1)
    drift = (energy[-1] - energy[0]) / duration
    balance = np.trapezoid(injection - loss, dx=interval) / duration
    # measured: 2e-7 of the injection (5% with the wall corners at full weight)
    assert abs(balance - drift) < 1e-4 * injection.mean(), (balance, drift, injection.mean())


# -- the stage ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def channel_trajectory(tiny_raw, tmp_path_factory):
    job = channel_job(tiny_raw, dtype="float32")
    path = tmp_path_factory.mktemp("channel") / "re40_seed11.nc"
    run(job, simulate_execution(tiny_raw), path, progress=False)
    return job, path


def test_channel_file_follows_the_data_contract(channel_trajectory):
    job, path = channel_trajectory
    n, length = job.simulate.grid_size, job.physics.domain_length
    with xr.open_dataset(path, decode_times=False) as ds:
        for name in ("vorticity", "u", "v"):
            assert ds[name].dims == dims.FIELD_DIMS and ds[name].dtype == np.float32
            assert np.isfinite(ds[name].values).all()
        assert ds.sizes == {"time": job.simulate.num_snapshots, "y": n, "x": n}
        np.testing.assert_allclose(ds.y, (np.arange(n) + 0.5) * length / n)  # no point on a wall
        assert ds.attrs["boundary"] == "channel" and ds.attrs["solver"] == "finite_volume"
        assert ds.attrs["time_stepper"] == "classic_rk4"
        assert "no-slip walls" in ds.attrs["title"]
        # y+ of the first u point, from the stored centre velocity next to the walls (u there is
        # the mean of two faces at the same height, so the same value up to averaging in x)
        u = ds.u.values.astype(float)
        dy, nu = float(ds.y[1] - ds.y[0]), 1.0 / job.reynolds_number
        centre = (dy / 2) * np.sqrt(2 * np.abs(u[:, [0, -1]]).max() / dy / nu)
        assert 0.8 * centre <= ds.attrs["wall_yplus_max"] <= 1.25 * centre


def test_channel_run_is_reproducible_bit_for_bit(channel_trajectory, tiny_raw, tmp_path):
    job, path = channel_trajectory
    again = tmp_path / "again.nc"
    run(job, simulate_execution(tiny_raw, snapshots_per_chunk=5), again, progress=False)
    with xr.open_dataset(path) as first, xr.open_dataset(again) as second:
        for name in ("vorticity", "u", "v"):
            np.testing.assert_array_equal(first[name].values, second[name].values)


def test_channel_blow_up_names_the_run_and_leaves_no_file(tiny_raw, tmp_path):
    job = channel_job(tiny_raw, dtype="float32")
    job = dataclasses.replace(job, simulate=dataclasses.replace(job.simulate, courant_abort=0.01))
    out = tmp_path / "x.nc"
    with pytest.raises(SimulationBlowUp, match="Re=40, seed=11"):
        run(job, simulate_execution(tiny_raw), out, progress=False)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_make_solver_covers_every_boundary_and_refuses_unknown_ones(tiny_raw):
    for boundary in BOUNDARIES:
        job = dataclasses.replace(make_job(tiny_raw), boundary=boundary,
                                  boundary_time_stepper="classic_rk4")  # fmt: skip
        assert make_solver(job).timing.time_step > 0
    with pytest.raises(StageFailure, match="'boundary' = 'slab'; allowed: periodic, channel"):
        make_solver(dataclasses.replace(job, boundary="slab"))
    with pytest.raises(StageFailure, match=r"'boundary_time_stepper' = None .* allowed: forward"):
        make_solver(dataclasses.replace(job, boundary_time_stepper=None))


# -- configuration ------------------------------------------------------------------------------


def test_the_schemes_agree_between_schema_solver_and_stability_table():
    schema = read_yaml(SCHEMA)["properties"]["held_out_boundary"]["properties"]
    assert set(schema["time_stepper"]["enum"]) == set(channel.TIME_STEPPERS)
    assert set(stability.REAL_AXIS_LIMITS) == set(channel.TIME_STEPPERS)
    assert set(schema["boundaries"]["items"]["enum"]) == set(BOUNDARIES) - {"periodic"}


def test_stability_limit_of_explicit_diffusion_is_the_schemes(tiny_raw):
    """Below R / (8 nu / dx^2 + alpha) a random divergence-free field decays; at 1.5 times the
    limit its grid-scale part grows (the limit is the scheme's, not an arbitrary margin)."""
    n = 16
    job = channel_job(tiny_raw, reynolds_number=0.5, grid_size=n,
                      physics={"forcing_amplitude": 0.0})  # fmt: skip
    spacing = job.physics.domain_length / n
    limit = stability.diffusive_time_step_limit("classic_rk4", job.viscosity, job.physics.drag,
                                                spacing)  # fmt: skip
    u, v = random_divergence_free(n, spacing)
    amplitude = 1e-3 / float(jnp.abs(u).max())
    growth = {}
    for factor in (0.97, 1.5):
        step = limit * factor
        stepped = dataclasses.replace(job, simulate=dataclasses.replace(
            job.simulate, time_step=step, save_interval=step * 5))  # fmt: skip
        solver = channel.ChannelSolver(stepped)
        state, _, _ = solver.advance(solver.wrap(amplitude * u, amplitude * v), 1)
        growth[factor] = float(jnp.abs(state[0].data).max()) / 1e-3
    assert growth[0.97] < 1.0 < growth[1.5], growth


def test_config_refuses_an_unknown_reynolds_number_and_an_unstable_time_step(tiny_raw):
    raw = {**tiny_raw, "held_out_boundary": {**tiny_raw["held_out_boundary"],
                                             "reynolds_numbers": [77]}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"'held_out_boundary\.reynolds_numbers' holds 77"):
        load_study(raw, SCHEMA)
    raw = {**tiny_raw, "simulate": {**tiny_raw["simulate"], "time_step": 0.19},
           "held_out_boundary": {**tiny_raw["held_out_boundary"], "reynolds_numbers": [60],
                                 "time_stepper": "forward_euler"}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"above the diffusive limit .* forward_euler at Re = 60"):
        load_study(raw, SCHEMA)
