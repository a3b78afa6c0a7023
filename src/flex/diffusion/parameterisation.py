"""v-prediction (Salimans & Ho 2022). With z_t = alpha x0 + sigma eps and alpha^2 + sigma^2 = 1:

v   = alpha eps - sigma x0          (the network's target)
x0  = alpha z_t - sigma v
eps = sigma z_t + alpha v
"""

from __future__ import annotations

import torch


def noisy(x0: torch.Tensor, eps: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor):
    return alpha * x0 + sigma * eps


def velocity(x0: torch.Tensor, eps: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor):
    return alpha * eps - sigma * x0


def x0_from_v(z: torch.Tensor, v: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor):
    return alpha * z - sigma * v


def eps_from_v(z: torch.Tensor, v: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor):
    return sigma * z + alpha * v


def broadcast(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1, 1) in `like`'s dtype and device."""
    return value.to(like.dtype).to(like.device).view(-1, *([1] * (like.dim() - 1)))
