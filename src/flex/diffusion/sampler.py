"""DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models", arXiv 2010.02502, eq. 12) from
pure noise, in v-parameterisation, as the FLEX code (docs/method.md, "Sampling"): times
1 = t_0 > t_1 > ... > t_n = 0 (uniform unless given) and per step t -> s

    x0_hat = alpha_t z - sigma_t v_hat,  eps_hat = sigma_t z + alpha_t v_hat,
    c^2 = eta^2 sigma_s^2 (1 - (alpha_t sigma_s / (alpha_s sigma_t))^2),
    z <- alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c xi,   xi ~ N(0, I),

returning the last x0_hat (not z). eta = 0 is deterministic DDIM (the paper's; no xi is drawn),
eta = 1 ancestral sampling (c^2 is the variance of the posterior q(z_s | z_t, x0), DDPM, Ho et al.
2020). z_1 ~ N(0, I) and every xi are drawn per ensemble member from its own generator, so that
member k is the same whatever the batch size.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch

from flex.diffusion.parameterisation import broadcast, eps_from_v, x0_from_v
from flex.diffusion.schedule import CosineLogSNR


def ddim_sample(
    predict_v: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    noise: torch.Tensor,
    schedule: CosineLogSNR,
    steps: int,
    times: torch.Tensor | None = None,
    eta: float = 0.0,
    fresh_noise: Callable[[], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Run `steps` DDIM steps from z_1 = `noise` (B, C, H, W); returns x0_hat. `times`: the
    steps + 1 times, from 1 down to 0 (default uniform); the model is called at all but the
    last. With eta > 0, `fresh_noise()` gives each step's xi (B, C, H, W)."""
    times = uniform_times(steps) if times is None else times.to(torch.float64)
    if times.shape != (steps + 1,) or times[0] != 1 or times[-1] != 0 or (times.diff() >= 0).any():
        raise ValueError(f"{steps} sampling steps need {steps + 1} times decreasing from 1 to 0, "
                         f"got {times.tolist()}")  # fmt: skip
    if not 0 <= eta <= 1 or (eta > 0 and fresh_noise is None):
        raise ValueError(f"eta = {eta}: allowed 0 <= eta <= 1, and eta > 0 needs fresh_noise")
    batch = noise.shape[0]
    z, x0 = noise, noise
    for t, s in itertools.pairwise(times):
        t_batch = t.repeat(batch).to(noise.device)
        alpha_t, sigma_t = schedule.alpha_sigma(t_batch)
        alpha_s, sigma_s = schedule.alpha_sigma(s.repeat(batch))
        v = predict_v(z, t_batch.to(noise.dtype))
        a_t, s_t, a_s, s_s = (broadcast(value, z) for value in (alpha_t, sigma_t, alpha_s, sigma_s))
        x0 = x0_from_v(z, v, a_t, s_t)
        eps = eps_from_v(z, v, a_t, s_t)
        if eta == 0:
            z = a_s * x0 + s_s * eps
            continue
        spread = stochastic_spread(alpha_t, sigma_t, alpha_s, sigma_s, eta)  # float64, (B,)
        keep = torch.sqrt((sigma_s**2 - spread**2).clamp(min=0))
        z = a_s * x0 + broadcast(keep, z) * eps + broadcast(spread, z) * fresh_noise()
    return x0


def stochastic_spread(alpha_t, sigma_t, alpha_s, sigma_s, eta: float) -> torch.Tensor:
    """c = eta sigma_s sqrt(1 - (alpha_t sigma_s / (alpha_s sigma_t))^2): the standard deviation
    of the fresh noise of a DDIM step t -> s (0 at s = 0)."""
    ratio = torch.where(
        alpha_s > 0, alpha_t * sigma_s / (alpha_s * sigma_t), torch.zeros_like(alpha_s)
    )
    return eta * sigma_s * torch.sqrt((1 - ratio**2).clamp(min=0))


def uniform_times(steps: int) -> torch.Tensor:
    """1, 1 - 1/steps, ..., 0 (float64): the FLEX code's grid."""
    if steps < 1:
        raise ValueError(f"sampling steps must be >= 1, got {steps}")
    return torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)


class MemberNoise:
    """Each member's own generator, seeded by its seed: every call draws N(0, I) of `shape`
    (C, H, W) for each member, (len(seeds), C, H, W) on `device`. The first call is z_1, the
    next ones a stochastic sampler's xi; member k's draws do not depend on the batch."""

    def __init__(self, shape: tuple[int, ...], seeds: list[int], device="cpu") -> None:
        self.shape, self.device = shape, device
        self.generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]

    def __call__(self) -> torch.Tensor:
        draws = [torch.randn(self.shape, generator=g) for g in self.generators]
        return torch.stack(draws).to(self.device)


def member_noise(shape: tuple[int, ...], seeds: list[int], device="cpu") -> torch.Tensor:
    """One N(0, I) draw of `shape` (C, H, W) per seed, from its own generator: (len(seeds), C, H, W)."""
    return MemberNoise(shape, seeds, device)()
