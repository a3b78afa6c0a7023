"""The training objective of each kind of model (`flex.kinds`; docs/method.md, "Training").

A diffusion model learns v of the field it models (the residual target - base, or the raw target
for `flex_raw`) with the diffusion loss; `regression` learns the residual itself,
r_hat = net(z=0, t=0, Re, input), with the same L1 or MSE loss; `flex_crps` learns the residual's
distribution through its sampler with the fair CRPS of `crps_members` members sampled with
`crps_steps` DDIM steps (`flex.diffusion.crps`). A multi-task model (`flex_mt`) learns v of every
task's residual at once (`multitask_loss`).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from flex.diffusion.crps import crps_loss
from flex.diffusion.loss import LOSSES, diffusion_loss, time_and_noise, v_pair
from flex.diffusion.schedule import CosineLogSNR
from flex.kinds import ModelKind
from flex.models.flex import TaskFeatures


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
    steps) of a model trained on the CRPS. A multi-task model's batch is {task: batch}."""
    if kind.multitask:
        return multitask_loss(model, batch, kind, schedule, loss, generator, shard)
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


def _denoise(model, z, t, reynolds, features):
    return model.denoise(z, t, reynolds, features)


def multitask_loss(
    model: nn.Module,
    batches: dict[str, dict[str, torch.Tensor]],
    kind: ModelKind,
    schedule: CosineLogSNR,
    loss: str,
    generator: torch.Generator | None = None,
    shard: tuple[int, int] = (0, 1),
) -> torch.Tensor:
    """The mean over the tasks of each task's diffusion loss, as the authors' multi-task training:
    the examples of every task share the diffusion time t and the noise eps (drawn at the
    largest patch; a smaller patch takes its top-left part, the pixels its example shares with
    the larger one, `flex.data.multitask`), and the common parts run once on the concatenated
    batch [task 1; task 2; ...] of the tasks of one patch size (their norms act per example, so
    this is the batch of each task in turn, faster)."""
    x0 = {task: learned_field(batch, kind) for task, batch in batches.items()}
    t, eps = time_and_noise(max(x0.values(), key=lambda x: x.shape[-1]), generator, shard)
    groups: dict[tuple[int, ...], list[str]] = {}
    for task, field in x0.items():
        groups.setdefault(tuple(field.shape[1:]), []).append(task)
    losses = []
    for shape, tasks in groups.items():
        features = TaskFeatures.cat([model.encode_task(batches[k]["input"], batches[k]["reynolds"],
                                                       k) for k in tasks])  # fmt: skip
        reynolds = torch.cat([batches[k]["reynolds"] for k in tasks])
        noise = eps[:, : shape[0], : shape[1], : shape[2]].repeat(len(tasks), 1, 1, 1)
        v_hat, v = v_pair(partial(_denoise, model, reynolds=reynolds, features=features),
                          torch.cat([x0[k] for k in tasks]), t.repeat(len(tasks)), noise,
                          schedule)  # fmt: skip
        losses += [LOSSES[loss](a, b) for a, b in zip(v_hat.chunk(len(tasks)), v.chunk(len(tasks)),
                                                      strict=True)]  # fmt: skip
    return torch.stack(losses).mean()
