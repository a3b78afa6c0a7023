"""The training objective of each kind of model (`flex.kinds`; docs/method.md, "Training").

A diffusion model learns v of the field it models (the residual target - base, or the raw target
for `flex_raw`) with the diffusion loss; `regression` learns the residual itself,
r_hat = net(z=0, t=0, Re, input), with the same L1 or MSE loss; `flex_crps` learns the residual's
distribution through its sampler with the fair CRPS of `crps_members` members sampled with
`crps_steps` DDIM steps (`flex.diffusion.crps`).
"""

from __future__ import annotations

import torch
from torch import nn

from flex.diffusion.crps import crps_loss
from flex.diffusion.loss import LOSSES, diffusion_loss
from flex.diffusion.schedule import CosineLogSNR
from flex.kinds import ModelKind


def learned_field(batch: dict[str, torch.Tensor], kind: ModelKind) -> torch.Tensor:
    """What the network models: the residual target - base, or the raw target."""
    return batch["target"] - batch["base"] if kind.residual else batch["target"]


def crps_settings(settings, kind: ModelKind) -> tuple[int, int] | None:
    """(members, steps) of a model trained on the CRPS (its training settings), else None."""
    return (settings.crps_members, settings.crps_steps) if kind.objective == "crps" else None


def batch_loss(
    model: nn.Module,
    batch: dict[str, torch.Tensor],
    kind: ModelKind,
    schedule: CosineLogSNR,
    loss: str,
    generator: torch.Generator | None = None,
    shard: tuple[int, int] = (0, 1),
    crps: tuple[int, int] | None = None,
) -> torch.Tensor:
    """The mean loss of the batch; `shard` (rank, ranks): the batch is that rank's part of a
    data-parallel global batch, whose noise it shares (`diffusion_loss`); `crps`: (members,
    steps) of a model trained on the CRPS."""
    x0 = learned_field(batch, kind)
    task = model.encode_task(batch["input"], batch["reynolds"])
    if kind.objective == "direct":
        zeros = torch.zeros(x0.shape[0], device=x0.device)
        prediction = model.denoise(torch.zeros_like(x0), zeros, batch["reynolds"], task)
        return LOSSES[loss](prediction, x0)
    if kind.objective == "crps":
        if crps is None:
            raise ValueError("a model trained on the CRPS needs crps = (members, steps)")

        def sample_v(z, t, members):
            reynolds = batch["reynolds"].repeat_interleave(members)
            return model.denoise(z, t, reynolds, task.repeat(members))

        return crps_loss(sample_v, x0, schedule, *crps, generator, shard)
    return diffusion_loss(
        lambda z, t: model.denoise(z, t, batch["reynolds"], task),
        x0,
        schedule,
        loss,
        generator,
        shard,
    )
