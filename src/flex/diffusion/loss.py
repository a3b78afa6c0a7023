"""The training objective: L1 (the FLEX code's default) or MSE between v_hat and v, weight 1.

t ~ U(0, 1), eps ~ N(0, I), z_t = alpha_t x0 + sigma_t eps,
loss = mean |v_hat(z_t, t, c) - (alpha_t eps - sigma_t x0)|      (or squared)

Data-parallel training draws (t, eps) for the global batch of `shard = (rank, ranks)` shards from
the same generator on every rank and keeps its own rows, so that N ranks see the noise of one rank
with an N times larger batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from flex.diffusion.parameterisation import broadcast, noisy, velocity
from flex.diffusion.schedule import CosineLogSNR

LOSSES = {"l1": torch.nn.functional.l1_loss, "mse": torch.nn.functional.mse_loss}


def diffusion_loss(
    predict_v: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    schedule: CosineLogSNR,
    kind: str = "l1",
    generator: torch.Generator | None = None,
    shard: tuple[int, int] = (0, 1),
) -> torch.Tensor:
    """`predict_v(z_t, t)` is the network with its conditioning bound; x0 is (B, 1, H, W), rows
    rank * B ... (rank + 1) * B of a global batch of `ranks` * B (`shard` = (rank, ranks))."""
    t, eps = time_and_noise(x0, generator, shard)
    return LOSSES[kind](*v_pair(predict_v, x0, t, eps, schedule))


def time_and_noise(x0: torch.Tensor, generator: torch.Generator | None = None,
                   shard: tuple[int, int] = (0, 1)) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """t ~ U(0, 1) (B,) and eps ~ N(0, I) shaped as x0: this rank's rows of the global batch's."""
    rank, ranks = shard
    size, rows = x0.shape[0], slice(rank * x0.shape[0], (rank + 1) * x0.shape[0])
    t = torch.rand(size * ranks, generator=generator, device=x0.device)[rows]
    eps = torch.randn((size * ranks, *x0.shape[1:]), generator=generator, device=x0.device,
                      dtype=x0.dtype)[rows]  # fmt: skip
    return t, eps


def v_pair(predict_v, x0, t, eps, schedule: CosineLogSNR) -> tuple[torch.Tensor, torch.Tensor]:
    """(v_hat, v) at z_t = alpha_t x0 + sigma_t eps."""
    alpha, sigma = (broadcast(v, x0) for v in schedule.alpha_sigma(t))
    return predict_v(noisy(x0, eps, alpha, sigma), t), velocity(x0, eps, alpha, sigma)
