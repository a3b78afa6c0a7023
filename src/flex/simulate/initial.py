"""Random initial vorticity, one per seed.

omega_hat(k) = FFT[xi](k) * (|k| / k_p)^2 exp(-(|k| / k_p)^2) * D(k),   xi ~ N(0, 1) white noise,

an amplitude filter peaked at |k| = k_p (`simulate.initial_peak_wavenumber`), the 2/3 dealiasing
mask D and no mean; the field is then scaled so that max |u| = `simulate.initial_max_velocity`.
The noise comes from jax.random with key PRNGKey(seed): it depends on `jax_threefry_partitionable`
and on float64 being enabled, both recorded in each output file.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from flex.simulate.equations import ForcedVorticityEquation, wavenumbers


def initial_vorticity_hat(
    seed: int,
    equation: ForcedVorticityEquation,
    peak_wavenumber: float,
    max_velocity: float,
    dtype: jnp.dtype,
) -> jnp.ndarray:
    """Spectral (rfft2, [x, y]) initial vorticity with max speed `max_velocity`."""
    grid = equation.grid
    noise = jax.random.normal(jax.random.PRNGKey(seed), grid.shape, dtype=dtype)
    kx, ky = wavenumbers(grid)
    ratio_squared = (kx**2 + ky**2) / peak_wavenumber**2
    amplitude = ratio_squared * jnp.exp(-ratio_squared)
    vorticity_hat = jnp.fft.rfft2(noise) * amplitude * equation.dealias_filter
    vorticity_hat = vorticity_hat.at[0, 0].set(0.0)
    _, u, v = equation.real_fields(vorticity_hat)
    speed = jnp.sqrt(u**2 + v**2).max()
    return vorticity_hat * (max_velocity / speed)
