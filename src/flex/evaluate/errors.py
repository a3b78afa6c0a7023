"""Deterministic errors of a prediction p against the truth y, per sample over the last two axes.

- RFNE = ||p - y||_F / ||y||_F (relative Frobenius-norm error; SuperBench / FLEX). `pooled_rfne`
  takes the norms over all samples at once, as the FLEX evaluation code does per batch.
- MSE, MAE.
- PSNR = 10 log10(R^2 / MSE) with R = max(y) - min(y) of the sample (scikit-image's convention
  with data_range = R).
- SSIM (Wang et al. 2004): Gaussian window sigma = 1.5 truncated at 3.5 sigma (11 taps),
  K1 = 0.01, K2 = 0.03, dynamic range R as above, population covariances, mean over the map
  cropped by the window radius (scikit-image's `structural_similarity` with
  gaussian_weights=True, use_sample_covariance=False).
- Pearson correlation of the flattened fields.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SSIM_SIGMA, SSIM_TRUNCATE, SSIM_K1, SSIM_K2 = 1.5, 3.5, 0.01, 0.03


def _axes(array: np.ndarray) -> tuple[int, int]:
    return (array.ndim - 2, array.ndim - 1)


def rfne(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    axes = _axes(target)
    return np.linalg.norm(prediction - target, axis=axes) / np.linalg.norm(target, axis=axes)


def pooled_rfne(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.linalg.norm(prediction - target) / np.linalg.norm(target))


def mse(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    return ((prediction - target) ** 2).mean(axis=_axes(target))


def mae(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.abs(prediction - target).mean(axis=_axes(target))


def data_range(target: np.ndarray) -> np.ndarray:
    axes = _axes(target)
    return target.max(axis=axes) - target.min(axis=axes)


def psnr(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    return 10 * np.log10(data_range(target) ** 2 / mse(prediction, target))


def ssim(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """SSIM of each (y, x) map; leading axes are samples."""
    p = np.asarray(prediction, dtype=np.float64).reshape(-1, *prediction.shape[-2:])
    y = np.asarray(target, dtype=np.float64).reshape(-1, *target.shape[-2:])
    ranges = data_range(y)
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    out = np.empty(len(p))

    def blur(a):
        return ndimage.gaussian_filter(a, SSIM_SIGMA, truncate=SSIM_TRUNCATE, mode="reflect")

    for i, (a, b, r) in enumerate(zip(p, y, ranges, strict=True)):
        mu_a, mu_b = blur(a), blur(b)
        var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
        cov = blur(a * b) - mu_a * mu_b
        c1, c2 = (SSIM_K1 * r) ** 2, (SSIM_K2 * r) ** 2
        index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
            (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
        )
        out[i] = index[radius:-radius, radius:-radius].mean()
    return out.reshape(prediction.shape[:-2])


def pearson(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    axes = _axes(target)
    p = prediction - prediction.mean(axis=axes, keepdims=True)
    y = target - target.mean(axis=axes, keepdims=True)
    return (p * y).sum(axis=axes) / np.sqrt((p * p).sum(axis=axes) * (y * y).sum(axis=axes))
