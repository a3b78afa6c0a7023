"""Ensemble predictions of a trained model for a batch of inputs (docs/method.md, "Sampling").

For B inputs and M members: the task features are computed once per input (they do not depend on
the diffusion time) and repeated for the members; each member starts from its own noise, drawn
from a generator seeded by its own seed, so member k is the same whatever the batch size. The
residual (or, for `flex_raw`, the field) is the last clean estimate of DDIM with `steps` steps
(deterministic, or stochastic with `eta` > 0: each member's fresh noise from its own generator
too); the prediction adds the base. `regression` gives one deterministic member.
"""

from __future__ import annotations

import torch

from flex.diffusion.sampler import MemberNoise, ddim_sample
from flex.diffusion.schedule import CosineLogSNR
from flex.kinds import ModelKind


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    kind: ModelKind,
    task_input: torch.Tensor,
    base: torch.Tensor,
    reynolds: torch.Tensor,
    seeds: list[list[int]],
    steps: int,
    schedule: CosineLogSNR,
    features=None,
    times: torch.Tensor | None = None,
    eta: float = 0.0,
) -> torch.Tensor:
    """Predictions (B, M, 1, H, W) in normalised units; `seeds[b][k]` seeds member k of input b.

    `features` may be given (computed once by the caller) to skip the task encoder; `times` is
    the DDIM time grid and `eta` its stochasticity (`flex.diffusion.sampler.ddim_sample`;
    default: uniform, deterministic)."""
    batch, members = len(seeds), len(seeds[0])
    if features is None:
        features = model.encode_task(task_input, reynolds)
    if not kind.diffusion:
        zeros = torch.zeros(batch, device=base.device)
        residual = model.denoise(torch.zeros_like(base), zeros, reynolds, features)
        return (base + residual)[:, None].expand(-1, members, -1, -1, -1)
    repeated = features.repeat(members)
    reynolds_rep = reynolds.repeat_interleave(members)
    flat_seeds = [s for member_seeds in seeds for s in member_seeds]
    draws = MemberNoise(tuple(base.shape[1:]), flat_seeds, base.device)
    x0 = ddim_sample(
        lambda z, t: model.denoise(z, t, reynolds_rep, repeated), draws().to(base.dtype), schedule,
        steps, times, eta, lambda: draws().to(base.dtype),
    )  # fmt: skip
    x0 = x0.view(batch, members, *base.shape[1:])
    return x0 + base[:, None] if kind.residual else x0
