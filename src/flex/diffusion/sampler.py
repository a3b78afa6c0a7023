"""Deterministic DDIM (Song et al. 2021, eta = 0) from pure noise, in v-parameterisation, as the
FLEX code (docs/method.md, "Sampling"): times 1 = t_0 > t_1 > ... > t_n = 0 (uniform unless
given) and per step

    x0_hat = alpha_t z - sigma_t v_hat,  eps_hat = sigma_t z + alpha_t v_hat,
    z <- alpha_s x0_hat + sigma_s eps_hat,

returning the last x0_hat (not z). z_1 ~ N(0, I), drawn per ensemble member from its own generator
so that member k is the same whatever the batch size.
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
) -> torch.Tensor:
    """Run `steps` DDIM steps from z_1 = `noise` (B, C, H, W); returns x0_hat. `times`: the
    steps + 1 times, from 1 down to 0 (default uniform); the model is called at all but the
    last."""
    times = uniform_times(steps) if times is None else times.to(torch.float64)
    if times.shape != (steps + 1,) or times[0] != 1 or times[-1] != 0 or (times.diff() >= 0).any():
        raise ValueError(f"{steps} sampling steps need {steps + 1} times decreasing from 1 to 0, "
                         f"got {times.tolist()}")  # fmt: skip
    batch = noise.shape[0]
    z, x0 = noise, noise
    for t, s in itertools.pairwise(times):
        t_batch = t.repeat(batch).to(noise.device)
        alpha_t, sigma_t = (broadcast(v, z) for v in schedule.alpha_sigma(t_batch))
        alpha_s, sigma_s = (broadcast(v, z) for v in schedule.alpha_sigma(s.repeat(batch)))
        v = predict_v(z, t_batch.to(noise.dtype))
        x0 = x0_from_v(z, v, alpha_t, sigma_t)
        z = alpha_s * x0 + sigma_s * eps_from_v(z, v, alpha_t, sigma_t)
    return x0


def uniform_times(steps: int) -> torch.Tensor:
    """1, 1 - 1/steps, ..., 0 (float64): the FLEX code's grid."""
    if steps < 1:
        raise ValueError(f"sampling steps must be >= 1, got {steps}")
    return torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)


def member_noise(shape: tuple[int, ...], seeds: list[int], device="cpu") -> torch.Tensor:
    """One N(0, I) draw of `shape` (C, H, W) per seed, from its own generator: (len(seeds), C, H, W)."""
    draws = []
    for seed in seeds:
        generator = torch.Generator().manual_seed(int(seed))
        draws.append(torch.randn(shape, generator=generator))
    return torch.stack(draws).to(device)
