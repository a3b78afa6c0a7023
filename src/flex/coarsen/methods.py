"""Coarse-graining operators on the last two axes (y, x) of periodic fields, N^2 -> (N/f)^2.

With f = `coarsen.coarsen_factor`, m = N / f and fine grid points x_j = j dx:

- `subsample` (the FLEX paper's protocol): c[a, b] = w[a f, b f]. No filtering: a Fourier mode
  above the coarse Nyquist wavenumber m/2 aliases, e.g. cos((m + k) x) -> cos(k x).
  Coarse points x_b = b f dx.
- `spectral_cutoff`: a sharp low-pass filter, then sampling: the modes with |k_x|, |k_y| < m/2 are
  kept exactly, the others (coarse Nyquist included) removed. Coarse points x_b = b f dx.
- `box_average`: the mean over each f x f block. It keeps the domain mean exactly and attenuates
  a mode by the Dirichlet kernel D(k) = sin(k f dx / 2) / (f sin(k dx / 2)) per axis; coarse points
  are the block centres x_b = (b f + (f - 1) / 2) dx.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def subsample(field: np.ndarray, factor: int) -> np.ndarray:
    return field[..., ::factor, ::factor]


def spectral_cutoff(field: np.ndarray, factor: int) -> np.ndarray:
    n = field.shape[-1]
    m = n // factor
    keep = m // 2  # wavenumbers 0 .. keep-1 on each side; the coarse Nyquist mode is dropped
    field_hat = np.fft.rfft2(field)
    coarse_hat = np.zeros((*field.shape[:-2], m, m // 2 + 1), dtype=field_hat.dtype)
    coarse_hat[..., :keep, :keep] = field_hat[..., :keep, :keep]
    if keep > 1:
        coarse_hat[..., m - keep + 1 :, :keep] = field_hat[..., n - keep + 1 :, :keep]
    return (np.fft.irfft2(coarse_hat, s=(m, m)) / factor**2).astype(field.dtype)


def box_average(field: np.ndarray, factor: int) -> np.ndarray:
    *lead, ny, nx = field.shape
    blocks = field.reshape(*lead, ny // factor, factor, nx // factor, factor)
    return blocks.mean(axis=(-3, -1), dtype=np.float64).astype(field.dtype)


METHODS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "subsample": subsample,
    "spectral_cutoff": spectral_cutoff,
    "box_average": box_average,
}

DESCRIPTIONS = {
    "subsample": "strided subsampling",
    "spectral_cutoff": "sharp spectral cutoff",
    "box_average": "box average",
}


def coarse_coordinates(fine: np.ndarray, factor: int, method: str) -> np.ndarray:
    """Positions of the coarse points (see the module docstring)."""
    spacing = fine[1] - fine[0]
    shift = (factor - 1) / 2 * spacing if method == "box_average" else 0.0
    return fine[::factor] + shift
