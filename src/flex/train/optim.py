"""Optimisers and the learning-rate schedule of the FLEX training (docs/method.md, "Training").

Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), per parameter p with
gradient g and momentum m:

    p <- p - lr (sign(beta1 m + (1 - beta1) g) + wd p),    m <- beta2 m + (1 - beta2) g.

Schedule: linear warm-up over `warmup_steps`, then cosine decay to 0 at `steps` (diffusers'
get_cosine_schedule_with_warmup): lr(s) = lr0 s / w for s < w, else lr0 (1 + cos(pi (s-w)/(S-w))) / 2.
"""

from __future__ import annotations

import math

import torch

from flex.config import TrainSettings


class Lion(torch.optim.Optimizer):
    def __init__(self, params, lr: float, betas=(0.9, 0.99), weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["momentum"] = torch.zeros_like(p)
                momentum = state["momentum"]
                update = (beta1 * momentum + (1 - beta1) * p.grad).sign_()
                p.add_(update + group["weight_decay"] * p, alpha=-group["lr"])
                momentum.mul_(beta2).add_(p.grad, alpha=1 - beta2)
        return loss


OPTIMIZER_MOMENTS = {"lion": 1, "adamw": 2}
"""Tensors of a parameter's size that each optimizer keeps per parameter (Lion: the momentum m;
AdamW: the first and second moments); `flex.footprint` sizes checkpoints from it."""


def make_optimizer(parameters, settings: TrainSettings) -> torch.optim.Optimizer:
    if settings.optimizer == "lion":
        return Lion(parameters, settings.learning_rate, settings.betas, settings.weight_decay)
    return torch.optim.AdamW(parameters, settings.learning_rate, betas=settings.betas,
                             weight_decay=settings.weight_decay)  # fmt: skip


def learning_rate_factor(step: int, warmup: int, total: int, schedule: str = "cosine") -> float:
    """Multiplier of the base learning rate at optimiser step `step` (0-based): linear warm-up
    over `warmup` steps, then 1/2 (1 + cos(pi (step - warmup) / (total - warmup))) (`cosine`,
    zero at `total`) or 1 (`constant`)."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
