"""What each model of the study learns from a batch (flex-method.md sections 2.1-2.3).

| model | backbone | learns | prediction |
|---|---|---|---|
| `flex` | FLEX | v of the residual r = target - base (diffusion) | base + sampled r |
| `flex_raw` | FLEX | v of the raw target (diffusion): the ablation of residual modelling | sampled target |
| `unet` | U-Net | v of the residual (diffusion) | base + sampled r |
| `regression` | FLEX | the residual, deterministically: r_hat = net(0, t=0, Re, input) | base + r_hat |

base = up-sampled coarse field (sr) or the last frame (fc).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from flex.diffusion.loss import LOSSES, diffusion_loss
from flex.diffusion.schedule import CosineLogSNR


@dataclasses.dataclass(frozen=True)
class ModelKind:
    backbone: str
    diffusion: bool
    residual: bool


MODEL_KINDS = {
    "flex": ModelKind("flex", diffusion=True, residual=True),
    "flex_raw": ModelKind("flex", diffusion=True, residual=False),
    "unet": ModelKind("unet", diffusion=True, residual=True),
    "regression": ModelKind("flex", diffusion=False, residual=True),
}


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
) -> torch.Tensor:
    x0 = learned_field(batch, kind)
    task = model.encode_task(batch["input"], batch["reynolds"])
    if not kind.diffusion:
        zeros = torch.zeros(x0.shape[0], device=x0.device)
        prediction = model.denoise(torch.zeros_like(x0), zeros, batch["reynolds"], task)
        return LOSSES[loss](prediction, x0)
    return diffusion_loss(
        lambda z, t: model.denoise(z, t, batch["reynolds"], task), x0, schedule, loss, generator
    )
