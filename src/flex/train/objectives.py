"""The training objective of each kind of model (`flex.kinds`; docs/method.md, "Training").

A diffusion model learns v of the field it models (the residual target - base, or the raw target
for `flex_raw`) with the diffusion loss; `regression` learns the residual itself,
r_hat = net(z=0, t=0, Re, input), with the same L1 or MSE loss.
"""

from __future__ import annotations

import torch
from torch import nn

from flex.diffusion.loss import LOSSES, diffusion_loss
from flex.diffusion.schedule import CosineLogSNR
from flex.kinds import ModelKind


def learned_field(batch: dict[str, torch.Tensor], kind: ModelKind) -> torch.Tensor:
    """What the network models: the residual target - base, or the raw target."""
    return batch["target"] - batch["base"] if kind.residual else batch["target"]


def batch_loss(
    model: nn.Module,
    batch: dict[str, torch.Tensor],
    kind: ModelKind,
    schedule: CosineLogSNR,
    loss: str,
    generator: torch.Generator | None = None,
    shard: tuple[int, int] = (0, 1),
) -> torch.Tensor:
    """The mean loss of the batch; `shard` (rank, ranks): the batch is that rank's part of a
    data-parallel global batch, whose noise it shares (`diffusion_loss`)."""
    x0 = learned_field(batch, kind)
    task = model.encode_task(batch["input"], batch["reynolds"])
    if not kind.diffusion:
        zeros = torch.zeros(x0.shape[0], device=x0.device)
        prediction = model.denoise(torch.zeros_like(x0), zeros, batch["reynolds"], task)
        return LOSSES[loss](prediction, x0)
    return diffusion_loss(
        lambda z, t: model.denoise(z, t, batch["reynolds"], task),
        x0,
        schedule,
        loss,
        generator,
        shard,
    )
