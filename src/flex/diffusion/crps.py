"""A model trained for calibration at its sampling budget: the fair CRPS of members sampled
through the unrolled DDIM sampler (the approach of CRPS-trained ensemble emulators: Alet et al.
2025, arXiv 2506.10772, FGN; Greenbury et al. 2026, arXiv 2606.12997).

For each example (residual x0 in normalised units) M members start from independent noise z_1
and run `steps` deterministic DDIM steps (`flex.diffusion.sampler`) with the network, gradients
flowing through every call; the loss is the fair (finite-ensemble) CRPS per pixel (Ferro 2014;
Zamo & Naveau 2018), averaged over pixels and examples:

    CRPS_fair = 1/M sum_i |X_i - y| - 1/(2 M (M - 1)) sum_{i != j} |X_i - X_j|,

an unbiased estimate of the CRPS of the distribution the members are drawn from, minimised in
expectation by the true conditional distribution. It equals `flex.evaluate.calibration.crps`.
Data-parallel training draws the noise of the global batch on every rank and keeps its own rows,
as the diffusion loss does.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from flex.diffusion.sampler import ddim_sample
from flex.diffusion.schedule import CosineLogSNR


def fair_crps(members: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per pixel: members (B, M, ...), truth (B, ...) -> (B, ...)."""
    count = members.shape[1]
    skill = (members - truth[:, None]).abs().mean(dim=1)
    pairs = (members[:, :, None] - members[:, None, :]).abs().sum(dim=(1, 2))
    return skill - pairs / (2 * count * (count - 1))


def crps_loss(
    sample_v: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor],
    x0: torch.Tensor,
    schedule: CosineLogSNR,
    members: int,
    steps: int,
    generator: torch.Generator | None = None,
    shard: tuple[int, int] = (0, 1),
) -> torch.Tensor:
    """Mean fair CRPS of `members` members per example of x0 (B, C, H, W); `sample_v(z, t,
    members)` is the network on z (B * members, C, H, W), rows ordered example-major, with its
    conditioning repeated `members` times per example."""
    rank, ranks = shard
    size, rows = x0.shape[0], slice(rank * x0.shape[0], (rank + 1) * x0.shape[0])
    noise = torch.randn((size * ranks, members, *x0.shape[1:]), generator=generator,
                        device=x0.device, dtype=x0.dtype)[rows]  # fmt: skip
    drawn = ddim_sample(lambda z, t: sample_v(z, t, members), noise.flatten(0, 1), schedule, steps)
    return fair_crps(drawn.view(size, members, *x0.shape[1:]), x0).mean()
