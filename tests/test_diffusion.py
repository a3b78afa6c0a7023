"""Diffusion: closed forms of the schedule, v-parameterisation identities, the sampler."""

from __future__ import annotations

import math

import pytest
import torch

from flex.diffusion.loss import diffusion_loss
from flex.diffusion.parameterisation import eps_from_v, noisy, velocity, x0_from_v
from flex.diffusion.sampler import ddim_sample, member_noise, uniform_times
from flex.diffusion.schedule import CosineLogSNR


def test_schedule_closed_forms():
    schedule = CosineLogSNR()
    t = torch.linspace(0, 1, 101)
    alpha, sigma = schedule.alpha_sigma(t)
    torch.testing.assert_close(alpha**2 + sigma**2, torch.ones_like(alpha, dtype=torch.float64))
    logsnr = schedule.logsnr(torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(logsnr, torch.tensor([20.0, 0.0, -20.0], dtype=torch.float64),
                               atol=1e-9, rtol=0)  # fmt: skip
    a, s = schedule.alpha_sigma(torch.tensor([0.5]))
    assert math.isclose(float(a), math.sqrt(0.5)) and math.isclose(float(s), math.sqrt(0.5))
    assert bool((logsnr[:-1] > logsnr[1:]).all())
    shifted = CosineLogSNR(shift=16.0).logsnr(torch.tensor([0.3]))
    assert math.isclose(
        float(shifted), float(schedule.logsnr(torch.tensor([0.3]))) - 2 * math.log(16)
    )


def test_v_parameterisation_identities():
    generator = torch.Generator().manual_seed(0)
    x0, eps = (
        torch.randn(4, 1, 8, 8, generator=generator),
        torch.randn(4, 1, 8, 8, generator=generator),
    )
    alpha, sigma = CosineLogSNR().alpha_sigma(torch.rand(4, generator=generator))
    alpha, sigma = alpha.float().view(-1, 1, 1, 1), sigma.float().view(-1, 1, 1, 1)
    z, v = noisy(x0, eps, alpha, sigma), velocity(x0, eps, alpha, sigma)
    torch.testing.assert_close(x0_from_v(z, v, alpha, sigma), x0, atol=1e-5, rtol=0)
    torch.testing.assert_close(eps_from_v(z, v, alpha, sigma), eps, atol=1e-5, rtol=0)


def test_ddim_with_the_exact_v_recovers_a_point_mass_in_any_number_of_steps():
    """For data concentrated at x*, the exact v is (alpha z - x*) / sigma: DDIM returns x*."""
    target = torch.randn(1, 1, 8, 8)
    schedule = CosineLogSNR()

    def exact_v(z, t):
        alpha, sigma = (v.float().view(-1, 1, 1, 1) for v in schedule.alpha_sigma(t))
        return (alpha * z - target) / sigma

    for steps in (1, 2, 8):
        sample = ddim_sample(exact_v, torch.randn(3, 1, 8, 8), schedule, steps)
        torch.testing.assert_close(sample, target.expand(3, -1, -1, -1), atol=1e-4, rtol=0)


@pytest.mark.parametrize("middle", [0.5, 0.3, 0.1])
def test_two_step_ddim_on_gaussian_data_has_the_closed_form_spread(middle):
    """Data x0 ~ N(0, s^2 I), exact v from the posterior mean E[x0 | z] = alpha s^2 z / (alpha^2 s^2
    + sigma^2). On the grid (1, m, 0): x0_hat(1) = 0 and eps_hat(1) = z_1 (alpha_1 ~ 0), so
    z_m = sigma_m z_1 and the member is alpha_m sigma_m s^2 / (alpha_m^2 s^2 + sigma_m^2) z_1."""
    s2 = 4.0
    schedule = CosineLogSNR()

    def exact_v(z, t):
        alpha, sigma = (v.view(-1, 1, 1, 1) for v in schedule.alpha_sigma(t))
        x0 = alpha * s2 / (alpha**2 * s2 + sigma**2) * z.double()
        return ((alpha * z.double() - x0) / sigma).float()

    noise = torch.randn(4, 1, 8, 8, dtype=torch.float64).float()
    times = torch.tensor([1.0, middle, 0.0])
    member = ddim_sample(exact_v, noise, schedule, 2, times)
    alpha, sigma = (float(v) for v in schedule.alpha_sigma(torch.tensor(middle)))
    factor = alpha * sigma * s2 / (alpha**2 * s2 + sigma**2)
    torch.testing.assert_close(member, factor * noise, atol=2e-3, rtol=2e-3)  # alpha_1 = 5e-5


def test_sampler_calls_the_model_at_the_given_times_and_refuses_bad_grids():
    called = []

    def record(z, t):
        called.append(float(t[0]))
        return torch.zeros_like(z)

    ddim_sample(record, torch.randn(2, 1, 4, 4), CosineLogSNR(), 3, torch.tensor([1, 0.4, 0.1, 0]))
    assert called == pytest.approx([1.0, 0.4, 0.1])
    called.clear()
    ddim_sample(record, torch.randn(2, 1, 4, 4), CosineLogSNR(), 4)
    assert called == pytest.approx(uniform_times(4)[:-1].tolist())
    for steps, times in [(2, [1, 0.5]), (2, [1, 0.6, 0.7]), (2, [0.9, 0.5, 0]), (1, [1, 0.1])]:
        with pytest.raises(ValueError, match="times decreasing from 1 to 0"):
            ddim_sample(record, torch.randn(1, 1, 4, 4), CosineLogSNR(), steps,
                        torch.tensor(times))  # fmt: skip


def test_member_noise_does_not_depend_on_the_batch():
    together = member_noise((1, 4, 4), [7, 8, 9])
    alone = member_noise((1, 4, 4), [8])
    torch.testing.assert_close(together[1:2], alone, rtol=0, atol=0)


def test_loss_of_the_exact_v_is_zero():
    target = torch.randn(1, 1, 8, 8)
    schedule = CosineLogSNR(logsnr_min=-10, logsnr_max=10)

    def exact_v(z, t):
        alpha, sigma = (v.float().view(-1, 1, 1, 1) for v in schedule.alpha_sigma(t))
        return (alpha * z - target) / sigma

    loss = diffusion_loss(exact_v, target.expand(16, -1, -1, -1), schedule, "mse")
    assert float(loss) < 1e-8
