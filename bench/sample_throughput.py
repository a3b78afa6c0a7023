"""Sampler speed: ensemble members/s, and reusing the task-encoder features against recomputing
them at every step (as the authors' code does), measured in the same run; then the same inputs
sampled `sample.batch_size` inputs at a time, against one batch of all of them; then each
sampler of the calibration study (DDIM's eta, `--etas`) against deterministic DDIM at the same
steps.

    python bench/sample_throughput.py [--size tiny] [--image 64] [--inputs 16] [--members 8]
        [--steps 2 8] [--batch-sizes 1 2 4 16] [--etas 1.0] [--threads N]

Random weights (speed does not depend on training); the members of B inputs are sampled in one
batch of B x M, with `steps` DDIM steps.
"""

from __future__ import annotations

import argparse
import time

import torch

from flex.diffusion.predict import predict
from flex.diffusion.sampler import ddim_sample, member_noise
from flex.diffusion.schedule import CosineLogSNR
from flex.kinds import MODEL_KINDS
from flex.models import build_model, preset


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
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 16])
    parser.add_argument("--etas", type=float, nargs="*", default=[1.0],
                        help="stochastic samplers timed against eta = 0")  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
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
        batch_size_table(model, kind, inputs, base, reynolds, seeds, args.steps[0], schedule,
                         args.batch_sizes)  # fmt: skip
        if args.etas:
            sampler_table(model, kind, inputs, base, reynolds, seeds, args.steps, schedule,
                          args.etas)  # fmt: skip


def sampler_table(model, kind, inputs, base, reynolds, seeds, steps_list, schedule, etas):
    """Members/s of each sampler (DDIM's eta) against deterministic DDIM (eta 0) at the same
    number of steps, in the same run: the cost of drawing fresh noise at every step."""
    members = len(seeds) * len(seeds[0])
    print("\n| steps | eta | members/s | time relative to eta = 0 |")
    print("|---|---|---|---|")
    for steps in steps_list:
        seconds = {eta: timed(lambda s=steps, e=eta: predict(model, kind, inputs, base, reynolds,
                                                            seeds, s, schedule, eta=e))
                   for eta in (0.0, *etas)}  # fmt: skip
        for eta, elapsed in seconds.items():
            print(f"| {steps} | {eta:g} | {members / elapsed:.1f} | "
                  f"{elapsed / seconds[0.0]:.2f} |")  # fmt: skip


def batch_size_table(model, kind, inputs, base, reynolds, seeds, steps, schedule, batch_sizes):
    """All inputs sampled `batch_size` inputs at a time (as `flex.sample` does with
    `sample.batch_size`), against one batch holding all of them, in the same run."""

    def in_batches(size):
        for start in range(0, len(seeds), size):
            chunk = slice(start, start + size)
            predict(model, kind, inputs[chunk], base[chunk], reynolds[chunk], seeds[chunk], steps,
                    schedule)  # fmt: skip

    members = len(seeds) * len(seeds[0])
    whole = timed(lambda: in_batches(len(seeds)))
    print(f"\n{steps} steps, {len(seeds)} inputs x {len(seeds[0])} members in batches of b inputs")
    print("| b (inputs) | members per call | members/s | speed-up over one batch |")
    print("|---|---|---|---|")
    for size in batch_sizes:
        seconds = whole if size >= len(seeds) else timed(lambda s=size: in_batches(s))
        print(f"| {size} | {min(size, len(seeds)) * len(seeds[0])} | {members / seconds:.1f} | "
              f"{whole / seconds:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
