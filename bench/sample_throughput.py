"""Sampler speed: ensemble members/s, and reusing the task-encoder features against recomputing
them at every step (as the authors' code does), measured in the same run.

    python bench/sample_throughput.py [--size tiny] [--image 64] [--inputs 16] [--members 8] [--steps 2]

Random weights (speed does not depend on training); the members of B inputs are sampled in one
batch of B x M, with `steps` DDIM steps.
"""

from __future__ import annotations

import argparse
import time

import torch

from flex.diffusion.sampler import ddim_sample, member_noise
from flex.diffusion.schedule import CosineLogSNR
from flex.models import build_model, preset
from flex.sample.ensemble import predict
from flex.train.objectives import MODEL_KINDS


def recompute_each_step(model, inputs, base, reynolds, seeds, steps, schedule):
    """The authors' way: the task encoder runs inside every denoising call."""
    members = len(seeds[0])
    inputs_rep = inputs.repeat_interleave(members, dim=0)
    reynolds_rep = reynolds.repeat_interleave(members)
    noise = member_noise(tuple(base.shape[1:]), [s for row in seeds for s in row])
    x0 = ddim_sample(lambda z, t: model(z, t, reynolds_rep, inputs_rep), noise, schedule, steps)
    return x0.view(len(seeds), members, *base.shape[1:]) + base[:, None]


def timed(function, repeats=3) -> float:
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--image", type=int, default=64)
    parser.add_argument("--inputs", type=int, default=16)
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--steps", type=int, nargs="+", default=[2, 8])
    args = parser.parse_args()
    torch.manual_seed(0)
    model = build_model(preset("flex", args.size, 1, args.image)).eval()
    inputs = torch.randn(args.inputs, 1, args.image, args.image)
    base, reynolds = inputs.clone(), torch.rand(args.inputs)
    seeds = [[b * args.members + k for k in range(args.members)] for b in range(args.inputs)]
    schedule, kind = CosineLogSNR(), MODEL_KINDS["flex"]
    print(f"FLEX {args.size}, {args.image}^2, {args.inputs} inputs x {args.members} members, "
          f"torch threads {torch.get_num_threads()}")  # fmt: skip
    print("| steps | members/s (features reused) | members/s (recomputed) | speed-up |")
    print("|---|---|---|---|")
    with torch.no_grad():
        for steps in args.steps:
            reuse = timed(
                lambda s=steps: predict(model, kind, inputs, base, reynolds, seeds, s, schedule)
            )
            again = timed(lambda s=steps: recompute_each_step(model, inputs, base, reynolds, seeds, s,
                                                              schedule))  # fmt: skip
            members = args.inputs * args.members
            print(
                f"| {steps} | {members / reuse:.1f} | {members / again:.1f} | {again / reuse:.2f} |"
            )


if __name__ == "__main__":
    main()
