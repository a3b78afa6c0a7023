"""Diffusion: closed forms of the schedule, v-parameterisation identities, the sampler."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flex.diffusion.loss import diffusion_loss
from flex.diffusion.parameterisation import eps_from_v, noisy, velocity, x0_from_v
from flex.diffusion.sampler import MemberNoise, ddim_sample, member_noise, uniform_times
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


def gaussian_exact_v(schedule: CosineLogSNR, variance: float):
    """The exact v for data x0 ~ N(0, variance I): from the posterior mean
    E[x0 | z_t] = alpha_t variance z_t / (alpha_t^2 variance + sigma_t^2)."""

    def exact_v(z, t):
        alpha, sigma = (v.view(-1, 1, 1, 1) for v in schedule.alpha_sigma(t))
        x0 = alpha * variance / (alpha**2 * variance + sigma**2) * z.double()
        return ((alpha * z.double() - x0) / sigma).float()

    return exact_v


@pytest.mark.parametrize("middle", [0.5, 0.3, 0.1])
def test_two_step_ddim_on_gaussian_data_has_the_closed_form_spread(middle):
    """Data x0 ~ N(0, s^2 I), exact v from the posterior mean E[x0 | z] = alpha s^2 z / (alpha^2 s^2
    + sigma^2). On the grid (1, m, 0): x0_hat(1) = 0 and eps_hat(1) = z_1 (alpha_1 ~ 0), so
    z_m = sigma_m z_1 and the member is alpha_m sigma_m s^2 / (alpha_m^2 s^2 + sigma_m^2) z_1."""
    s2 = 4.0
    schedule = CosineLogSNR()
    exact_v = gaussian_exact_v(schedule, s2)
    noise = torch.randn(4, 1, 8, 8, dtype=torch.float64).float()
    times = torch.tensor([1.0, middle, 0.0])
    member = ddim_sample(exact_v, noise, schedule, 2, times)
    alpha, sigma = (float(v) for v in schedule.alpha_sigma(torch.tensor(middle)))
    factor = alpha * sigma * s2 / (alpha**2 * s2 + sigma**2)
    torch.testing.assert_close(member, factor * noise, atol=2e-3, rtol=2e-3)  # alpha_1 = 5e-5


def gaussian_member_variance(d2: float, steps: int, eta: float) -> float:
    """Closed form, in the DDIM paper's own notation (abar = alpha^2): for data x0 ~ N(0, d2) and
    the exact denoiser x0_hat = k_t z, k_t = sqrt(abar_t) d2 / (abar_t d2 + 1 - abar_t), every
    step is linear, z_s = a z_t + c xi with (Song et al. 2021, eq. 12 and 16)

        sigma_t(eta)^2 = eta^2 (1 - abar_s) / (1 - abar_t) (1 - abar_t / abar_s),
        a = sqrt(abar_s) k_t + sqrt(1 - abar_s - sigma_t(eta)^2) (1 - sqrt(abar_t) k_t)
            / sqrt(1 - abar_t),

    so Var z_s = a^2 Var z_t + sigma_t(eta)^2 from Var z_1 = 1, and a member x0_hat(t_{n-1}) has
    the variance k^2 Var z_{t_{n-1}}."""
    schedule = CosineLogSNR()
    times = uniform_times(steps)
    abar = [float(schedule.alpha_sigma(t)[0]) ** 2 for t in times]
    variance = 1.0
    for i in range(steps):
        at, as_ = abar[i], abar[i + 1]
        k = math.sqrt(at) * d2 / (at * d2 + 1 - at)
        if i == steps - 1:
            return k**2 * variance
        fresh = eta**2 * (1 - as_) / (1 - at) * (1 - at / as_)
        a = math.sqrt(as_) * k + math.sqrt(1 - as_ - fresh) * (1 - math.sqrt(at) * k) / math.sqrt(
            1 - at
        )
        variance = a**2 * variance + fresh
    raise AssertionError("unreachable")


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("steps", [1, 2, 4, 64])
def test_stochastic_ddim_on_gaussian_data_has_the_closed_form_spread(steps, eta):
    """The members' variance, from 16384 independent pixels, against the closed form; spread /
    skill follows from it (sqrt(variance / d2) for many members)."""
    d2 = 0.25
    schedule = CosineLogSNR()
    exact_v = gaussian_exact_v(schedule, d2)
    draws = MemberNoise((1, 128, 128), [0])
    member = ddim_sample(exact_v, draws(), schedule, steps, eta=eta, fresh_noise=draws)
    expected = gaussian_member_variance(d2, steps, eta)
    assert float(member.double().var()) == pytest.approx(expected, rel=0.05, abs=1e-6)


def test_many_steps_sample_the_data_distribution_and_two_steps_collapse_for_every_eta():
    """The closed form's limits: with many steps every eta reaches Var = d2 (spread / skill 1).
    With two steps the member is k_m z_m and Var z_m = sigma_m^2 whatever eta (the fresh noise
    replaces part of eps_hat = z_1 at equal variance), so no eta lifts two-step spread / skill
    above its deterministic value, 0.4 here (at most 0.5 for Gaussian data)."""
    d2 = 0.25
    for eta in (0.0, 0.5, 1.0):
        assert gaussian_member_variance(d2, 1024, eta) == pytest.approx(d2, rel=0.02)
        assert gaussian_member_variance(d2, 2, eta) == pytest.approx(
            gaussian_member_variance(d2, 2, 0.0), rel=1e-4
        )
    assert math.sqrt(gaussian_member_variance(d2, 2, 0.0) / d2) == pytest.approx(0.4, abs=0.01)
    assert gaussian_member_variance(d2, 8, 1.0) < gaussian_member_variance(d2, 8, 0.0)


def test_ancestral_members_do_not_depend_on_the_batch():
    """eta > 0: each member's fresh noise comes from its own generator too."""
    schedule = CosineLogSNR()

    def v_of(z, t):
        return 0.3 * z

    together_draws, alone_draws = MemberNoise((1, 4, 4), [7, 8, 9]), MemberNoise((1, 4, 4), [8])
    together = ddim_sample(v_of, together_draws(), schedule, 4, eta=1.0, fresh_noise=together_draws)
    alone = ddim_sample(v_of, alone_draws(), schedule, 4, eta=1.0, fresh_noise=alone_draws)
    torch.testing.assert_close(together[1:2], alone, rtol=0, atol=0)
    with pytest.raises(ValueError, match="eta"):
        ddim_sample(v_of, torch.zeros(1, 1, 4, 4), schedule, 2, eta=0.5)


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


def test_the_fair_crps_objective_equals_the_evaluate_stage_s():
    """flex.diffusion.crps.fair_crps (all pairs) against flex.evaluate.calibration.crps (sorted
    members), independent formulas of the same estimator."""
    from flex.diffusion.crps import fair_crps
    from flex.evaluate.calibration import crps

    generator = torch.Generator().manual_seed(0)
    for members in (2, 3, 8):
        ensemble = torch.randn(4, members, 1, 5, 5, generator=generator, dtype=torch.float64)
        truth = torch.randn(4, 1, 5, 5, generator=generator, dtype=torch.float64)
        np.testing.assert_allclose(fair_crps(ensemble, truth).numpy(),
                                   crps(ensemble.numpy(), truth.numpy()), rtol=1e-12, atol=1e-12)  # fmt: skip


def test_the_crps_objective_has_the_gradient_of_its_finite_differences():
    """Gradients flow through both unrolled DDIM steps: torch.autograd.gradcheck of the loss in
    the parameters (w, b) of a linear network v_hat = w z + b, with fixed noise."""
    from flex.diffusion.crps import crps_loss

    schedule = CosineLogSNR()
    x0 = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def loss(w, b):
        generator = torch.Generator().manual_seed(2)
        return crps_loss(lambda z, t, m: w * z + b, x0, schedule, 2, 2, generator)

    w = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-0.1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(loss, (w, b), eps=1e-6, atol=1e-6)
    assert float(loss(w, b).detach()) > 0
