"""Probabilistic scores of an ensemble x_1..x_M (member axis 1) against the truth y.

- CRPS, fair (finite-ensemble) estimator (Ferro 2014; Zamo & Naveau 2018), per pixel:
      CRPS = (1/M) sum_m |x_m - y| - 1 / (2 M (M-1)) sum_{m,m'} |x_m - x_m'|,
  with sum_{m,m'} |x_m - x_m'| = 2 sum_i (2i - M - 1) x_(i) over the sorted members.
- spread = sqrt(mean over pixels of the unbiased ensemble variance); skill = RMSE of the
  ensemble mean; spread-skill ratio = sqrt((M+1)/M) spread / skill (Fortin et al. 2014): 1 for
  an ensemble drawn from the true predictive distribution.
- rank histogram (Talagrand): rank of y among the members, M+1 bins; flatness
  delta = sum_i (s_i - N/(M+1))^2 / (N M/(M+1)) (Candille & Talagrand 2005): ~1 when flat for
  independent pixels, larger when the ensemble is miscalibrated (pixel correlation inflates it).
- pull z = (ensemble mean - y) / ensemble std: mean 0 and std 1 when calibrated (minFLEX).
"""

from __future__ import annotations

import numpy as np

MEMBER_AXIS = 1


def crps(ensemble: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Fair CRPS per pixel: ensemble (S, M, ...), truth (S, ...) -> (S, ...)."""
    members = ensemble.shape[MEMBER_AXIS]
    error = np.abs(ensemble - truth[:, None]).mean(axis=MEMBER_AXIS)
    ordered = np.sort(ensemble, axis=MEMBER_AXIS)
    weights = (2 * np.arange(1, members + 1) - members - 1).reshape(
        1, members, *([1] * (ensemble.ndim - 2))
    )
    pairwise = 2 * (weights * ordered).sum(axis=MEMBER_AXIS)
    return error - pairwise / (2 * members * (members - 1))


def spread_skill(ensemble: np.ndarray, truth: np.ndarray, pixel_axes: tuple[int, ...]):
    """(spread, skill, ratio with the finite-ensemble correction) over `pixel_axes` of the truth."""
    members = ensemble.shape[MEMBER_AXIS]
    variance = ensemble.var(axis=MEMBER_AXIS, ddof=1)
    mean = ensemble.mean(axis=MEMBER_AXIS)
    spread = np.sqrt(variance.mean(axis=pixel_axes))
    skill = np.sqrt(((mean - truth) ** 2).mean(axis=pixel_axes))
    return spread, skill, np.sqrt((members + 1) / members) * spread / skill


def rank_histogram(ensemble: np.ndarray, truth: np.ndarray, stride: int = 1) -> np.ndarray:
    """Counts of the truth's rank (0..M) among the members, on every `stride`-th pixel."""
    members = ensemble.shape[MEMBER_AXIS]
    sub = (slice(None), slice(None), *([slice(None)] * (ensemble.ndim - 4)),
           slice(None, None, stride), slice(None, None, stride))  # fmt: skip
    below = (ensemble[sub] < truth[:, None][sub]).sum(axis=MEMBER_AXIS)
    return np.bincount(below.ravel(), minlength=members + 1)


def rank_flatness(counts: np.ndarray) -> float:
    total, bins = counts.sum(), len(counts)
    expected = total / bins
    return float(((counts - expected) ** 2).sum() / (total * (bins - 1) / bins))


def pull(ensemble: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(ensemble mean - truth) / ensemble std per pixel."""
    return (ensemble.mean(axis=MEMBER_AXIS) - truth) / ensemble.std(axis=MEMBER_AXIS, ddof=1)
