"""Autoregressive forecasts: feed predictions back as the next conditioning frames.

From frames (t-1, t), lead l = 1..H predicts frame t+l from the last two frames of the history,
and the history moves on by one frame:
- `mean` feedback (the FLEX code): every member's next input is the ensemble mean, so the task
  features are computed once per input and lead;
- `member` feedback: each member keeps its own history (an ensemble of trajectories).
Member k of input b at lead l uses the noise seed seeds[b][k][l] in both modes.
"""

from __future__ import annotations

import torch

from flex.diffusion.predict import predict
from flex.diffusion.schedule import CosineLogSNR
from flex.kinds import ModelKind

FEEDBACK = ("mean", "member")


@torch.no_grad()
def rollout(
    model, kind: ModelKind, frames: torch.Tensor, reynolds: torch.Tensor,
    seeds: list[list[list[int]]], steps: int, schedule: CosineLogSNR, feedback: str,
    eta: float = 0.0,
) -> torch.Tensor:  # fmt: skip
    """frames (B, 2, H, W) normalised -> predictions (B, M, L, H, W); `eta`: the sampler's
    (`flex.diffusion.predict`)."""
    batch, members, leads = len(seeds), len(seeds[0]), len(seeds[0][0])
    out = []
    if feedback == "mean":
        history = frames
        for lead in range(leads):
            lead_seeds = [[seeds[b][k][lead] for k in range(members)] for b in range(batch)]
            pred = predict(model, kind, history, history[:, 1:], reynolds, lead_seeds, steps,
                           schedule, eta=eta)  # fmt: skip
            out.append(pred[:, :, 0])  # (B, M, H, W)
            history = torch.cat([history[:, 1:], pred.mean(dim=1)], dim=1)
    elif feedback == "member":
        history = frames.repeat_interleave(members, dim=0)  # (B*M, 2, H, W)
        reynolds_rep = reynolds.repeat_interleave(members)
        for lead in range(leads):
            lead_seeds = [[seeds[b][k][lead]] for b in range(batch) for k in range(members)]
            pred = predict(
                model,
                kind,
                history,
                history[:, 1:],
                reynolds_rep,
                lead_seeds,
                steps,
                schedule,
                eta=eta,
            )[:, 0]  # fmt: skip  (B*M, 1, H, W)
            out.append(pred[:, 0].view(batch, members, *pred.shape[-2:]))
            history = torch.cat([history[:, 1:], pred], dim=1)
    else:
        raise ValueError(f"feedback {feedback!r}: allowed {FEEDBACK}")
    return torch.stack(out, dim=2)
