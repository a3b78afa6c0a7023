"""Cosine log-SNR schedule of a variance-preserving process (Nichol & Dhariwal 2021; Hoogeboom et
al. 2023, simple diffusion), as the FLEX code (docs/method.md, "Diffusion"):

    b = atan(exp(-lambda_max / 2)),  a = atan(exp(-lambda_min / 2)) - b,
    lambda(t) = -2 log(tan(a t + b) s),   t in [0, 1],
    alpha_t = sqrt(sigmoid(lambda)),  sigma_t = sqrt(sigmoid(-lambda)),  alpha^2 + sigma^2 = 1,

so lambda(0) = lambda_max, lambda(1) = lambda_min and, with shift s = 1, lambda(0.5) = 0.
"""

from __future__ import annotations

import dataclasses
import math

import torch


@dataclasses.dataclass(frozen=True)
class CosineLogSNR:
    logsnr_min: float = -20.0
    logsnr_max: float = 20.0
    shift: float = 1.0

    def logsnr(self, t: torch.Tensor) -> torch.Tensor:
        b = math.atan(math.exp(-self.logsnr_max / 2))
        a = math.atan(math.exp(-self.logsnr_min / 2)) - b
        t = t.to(torch.float64)
        return -2 * torch.log(torch.tan(a * t + b)) - 2 * math.log(self.shift)

    def alpha_sigma(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha_t, sigma_t) in float64; cast at the point of use."""
        logsnr = self.logsnr(t)
        return torch.sigmoid(logsnr).sqrt(), torch.sigmoid(-logsnr).sqrt()
