"""Isotropic spectra of square fields (last two axes), binned by integer wavenumber shells.

For vorticity w with Fourier coefficients w_hat(k) (numpy FFT normalised by the number of
points), the energy spectrum is E(k) = sum_{shell k} |w_hat|^2 / (2 |k|^2) (kinetic energy via
the stream function, |u_hat|^2 = |w_hat|^2 / |k|^2) and the enstrophy spectrum
Z(k) = sum_{shell k} |w_hat|^2 / 2; a velocity component u gives E(k) = sum |u_hat|^2 / 2. Shell
k holds the wavevectors with k - 1/2 <= |k| < k + 1/2 (integer wavenumbers of the periodic box the
field would tile). Evaluation patches are not periodic: `window=True` applies a 2-D Hann window
first (as minFLEX does), which damps the leakage of the patch edges into all wavenumbers.
"""

from __future__ import annotations

import numpy as np


def _shells(n: int) -> tuple[np.ndarray, np.ndarray]:
    k = np.fft.fftfreq(n, d=1.0 / n)
    magnitude = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    return magnitude, np.rint(magnitude).astype(int)


def _power(field: np.ndarray, window: bool) -> np.ndarray:
    n = field.shape[-1]
    if window:
        hann = np.hanning(n)
        field = field * np.outer(hann, hann) / np.sqrt((np.outer(hann, hann) ** 2).mean())
    return np.abs(np.fft.fft2(field) / (n * n)) ** 2


def _binned(power: np.ndarray, weight: np.ndarray, shells: np.ndarray) -> np.ndarray:
    n = power.shape[-1]
    flat = (power * weight).reshape(-1, n * n)
    out = np.stack([np.bincount(shells.ravel(), weights=row, minlength=n // 2 + 1) for row in flat])
    return out[:, : n // 2 + 1].reshape(*power.shape[:-2], n // 2 + 1)


def energy_spectrum(field: np.ndarray, from_vorticity: bool = True, window: bool = False):
    """E(k), k = 0 .. n/2, for every leading index of `field` (..., n, n)."""
    magnitude, shells = _shells(field.shape[-1])
    if from_vorticity:
        weight = np.divide(0.5, magnitude**2, out=np.zeros_like(magnitude), where=magnitude > 0)
    else:
        weight = np.full(magnitude.shape, 0.5)
    return _binned(_power(field, window), weight, shells)


def enstrophy_spectrum(vorticity: np.ndarray, window: bool = False) -> np.ndarray:
    _, shells = _shells(vorticity.shape[-1])
    return _binned(_power(vorticity, window), np.full(shells.shape, 0.5), shells)
