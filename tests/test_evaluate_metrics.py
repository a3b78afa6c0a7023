"""Metrics against independent references (scikit-image, scoringrules) and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import scoringrules
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from flex.evaluate import calibration, errors, spectra

RNG = np.random.default_rng(0)


def smooth_field(n=48, shift=0.0):
    x = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.sin(x[:, None] + shift) * np.cos(2 * x[None, :]) + 0.3 * RNG.normal(size=(n, n))


def test_ssim_and_psnr_match_scikit_image():
    target = np.stack([smooth_field(), smooth_field(shift=1.0)])
    prediction = target + 0.2 * RNG.normal(size=target.shape)
    ours_ssim, ours_psnr = errors.ssim(prediction, target), errors.psnr(prediction, target)
    for i in range(2):
        r = target[i].max() - target[i].min()
        reference = structural_similarity(target[i], prediction[i], data_range=r,
                                          gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False)  # fmt: skip
        assert ours_ssim[i] == pytest.approx(reference, abs=1e-10)
        assert ours_psnr[i] == pytest.approx(peak_signal_noise_ratio(target[i], prediction[i],
                                                                     data_range=r), abs=1e-10)  # fmt: skip


def test_rfne_pearson_and_simple_errors_closed_forms():
    target = smooth_field()[None]
    assert errors.rfne(2 * target, target)[0] == pytest.approx(1.0)
    assert errors.pooled_rfne(target, target) == 0.0
    assert errors.pearson(-3 * target + 1, target)[0] == pytest.approx(-1.0)
    assert errors.mse(target + 0.5, target)[0] == pytest.approx(0.25)
    assert errors.mae(target - 0.5, target)[0] == pytest.approx(0.5)


@pytest.mark.parametrize("members", [2, 5, 16])
def test_fair_crps_matches_scoringrules(members):
    truth = RNG.normal(size=(3, 6, 6))
    ensemble = RNG.normal(size=(3, members, 6, 6)) * 1.3 + 0.2
    reference = scoringrules.crps_ensemble(truth, np.moveaxis(ensemble, 1, -1), estimator="fair")
    np.testing.assert_allclose(calibration.crps(ensemble, truth), reference, rtol=1e-10, atol=1e-12)


def test_crps_of_a_perfect_point_ensemble_is_the_absolute_error_limit():
    truth = np.zeros((1, 4, 4))
    np.testing.assert_allclose(calibration.crps(np.ones((1, 3, 4, 4)), truth), 1.0)


def _ensemble(members: int, scale_of_spread: float, samples=400, pixels=16):
    """Truth and members drawn from N(mu, 1) around a random centre mu (the true predictive
    distribution); the members' spread scaled by `scale_of_spread` (1 = calibrated)."""
    centre = RNG.normal(size=(samples, pixels, pixels))
    truth = centre + RNG.normal(size=centre.shape)
    ensemble = centre[:, None] + scale_of_spread * RNG.normal(
        size=(samples, members, pixels, pixels)
    )
    return ensemble, truth


def test_a_calibrated_ensemble_has_unit_spread_skill_flat_ranks_and_unit_pulls():
    ensemble, truth = _ensemble(members=8, scale_of_spread=1.0)
    _, _, ratio = calibration.spread_skill(ensemble, truth, pixel_axes=(0, 1, 2))
    assert ratio == pytest.approx(1.0, abs=0.02)
    counts = calibration.rank_histogram(ensemble, truth)
    assert calibration.rank_flatness(counts) < 2.0
    assert np.abs(counts / counts.mean() - 1).max() < 0.05
    z = calibration.pull(ensemble, truth)
    assert abs(z.mean()) < 0.02


def test_an_overconfident_ensemble_is_detected():
    ensemble, truth = _ensemble(members=8, scale_of_spread=0.3)
    _, _, ratio = calibration.spread_skill(ensemble, truth, pixel_axes=(0, 1, 2))
    assert ratio < 0.4
    counts = calibration.rank_histogram(ensemble, truth)
    assert calibration.rank_flatness(counts) > 100  # U-shaped
    assert counts[0] + counts[-1] > 0.5 * counts.sum()
    assert calibration.pull(ensemble, truth).std() > 2


@pytest.mark.parametrize(("kx", "ky"), [(3, 0), (2, 5), (7, 7)])
def test_spectrum_of_a_single_fourier_mode(kx, ky):
    n, amplitude = 64, 2.0
    x = np.arange(n) * 2 * np.pi / n
    vorticity = amplitude * np.cos(ky * x[:, None] + kx * x[None, :])
    k = np.sqrt(kx**2 + ky**2)
    shell = int(np.rint(k))
    energy = spectra.energy_spectrum(vorticity[None])[0]
    enstrophy = spectra.enstrophy_spectrum(vorticity[None])[0]
    # <w^2>/2 = A^2 / 4, all in one shell; kinetic energy = enstrophy / k^2
    assert enstrophy[shell] == pytest.approx(amplitude**2 / 4)
    assert energy[shell] == pytest.approx(amplitude**2 / (4 * k**2))
    assert np.delete(enstrophy, shell).max() < 1e-20
    assert enstrophy.sum() == pytest.approx(0.5 * (vorticity**2).mean())  # Parseval
