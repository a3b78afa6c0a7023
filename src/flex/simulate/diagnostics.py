"""Per-snapshot diagnostics: blow-up, Courant number, energy, enstrophy and resolution.

Resolution diagnostic (under-resolution is reported, not hidden). With the enstrophy spectrum
Z(k) = sum over modes of |omega_hat(k)|^2 (rfft modes counted twice where they stand for a
conjugate pair), the fraction

    f_band = sum_{|k| >= b k_c} Z / sum_k Z

is the share of enstrophy in the highest resolved wavenumbers, where k_c is the largest |k_x| the
solver keeps (N/3 with 2/3 dealiasing, N/2 without) and b = `simulate.resolution_band_start`. In a
resolved run the dissipation range empties this band; f_band above
`simulate.resolution_max_enstrophy_fraction` at any snapshot marks the run under-resolved.
"""

from __future__ import annotations

import jax.numpy as jnp

from flex.simulate.equations import ForcedVorticityEquation, wavenumbers


def rfft_pair_weights(shape_hat: tuple[int, ...], nx: int) -> jnp.ndarray:
    """Weight 2 for rfft columns that stand for a conjugate pair, 1 for the 0 and Nyquist columns."""
    ny_hat = shape_hat[-1]
    weights = jnp.full(shape_hat, 2.0)
    weights = weights.at[..., 0].set(1.0)
    if nx % 2 == 0:
        weights = weights.at[..., ny_hat - 1].set(1.0)
    return weights


class SnapshotDiagnostics:
    """Jittable diagnostics of one snapshot, for a fixed equation and time step."""

    def __init__(self, equation: ForcedVorticityEquation, time_step: float, band_start: float):
        kx, ky = wavenumbers(equation.grid)
        k = jnp.sqrt(kx**2 + ky**2)
        kept = equation.dealias_filter > 0
        self.cutoff_wavenumber = float(jnp.abs(jnp.where(kept, kx, 0.0)).max())
        self.band = (k >= band_start * self.cutoff_wavenumber) & kept
        self.weights = rfft_pair_weights(kx.shape, equation.grid.shape[1])
        self.time_step = time_step
        self.spacing = min(equation.grid.step)

    def __call__(self, vorticity_hat: jnp.ndarray, fields: jnp.ndarray) -> dict[str, jnp.ndarray]:
        """`fields` = (vorticity, u, v) in real space; returns scalars."""
        vorticity, u, v = fields
        speed_squared = u**2 + v**2
        enstrophy_modes = self.weights * jnp.abs(vorticity_hat) ** 2
        return {
            "finite": jnp.isfinite(fields).all(),
            "courant_number": jnp.sqrt(speed_squared.max()) * self.time_step / self.spacing,
            "kinetic_energy": 0.5 * speed_squared.mean(),
            "enstrophy": 0.5 * (vorticity**2).mean(),
            "band_enstrophy_fraction": jnp.where(self.band, enstrophy_modes, 0.0).sum()
            / enstrophy_modes.sum(),
        }
