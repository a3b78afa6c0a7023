"""Training throughput of FLEX against the U-Net baseline of similar size, in one run.

    python bench/train_throughput.py [--sizes tiny small] [--image 64] [--batch 8] [--steps 10]

One training step = task encoder + backbone forward, L1 v-loss, backward, Lion step, on random
data of the given patch size (the data loader is measured in bench/data_loader.py). Reported:
parameters, examples/s of each backbone and the ratio FLEX / U-Net. On a GPU (none was lent to
this project's sessions so far) add --device cuda --bf16 for the paper's 256^2 setting.
"""

from __future__ import annotations

import argparse
import time

import torch

from flex.diffusion.schedule import CosineLogSNR
from flex.kinds import MODEL_KINDS
from flex.models import build_model, parameter_count, preset
from flex.train.objectives import batch_loss
from flex.train.optim import Lion


def training_step(backbone, size, image, batch, device, bf16):
    """(one training step on fixed random data, the model) of the benchmark."""
    torch.manual_seed(0)
    model = build_model(preset(backbone, size, 1, image)).to(device)
    optimiser = Lion(model.parameters(), lr=1e-5, betas=(0.9, 0.98))
    data = {
        k: torch.randn(batch, 1, image, image, device=device) for k in ("input", "base", "target")
    }
    data["reynolds"] = torch.rand(batch, device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = batch_loss(model, data, MODEL_KINDS["flex"], CosineLogSNR(), "l1")
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    return step, model


def steps_per_second(step, steps: int, device, warmup: int = 2) -> float:
    """`step` run `steps` times after `warmup` steps, timed between device synchronisations."""
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def examples_per_second(backbone, size, image, batch, steps, device, bf16) -> tuple[float, int]:
    step, model = training_step(backbone, size, image, batch, device, bf16)
    return steps_per_second(step, steps, device) * batch, parameter_count(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small"])
    parser.add_argument("--image", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, {args.image}^2, "
          f"batch {args.batch}, bf16 {args.bf16}")  # fmt: skip
    print("| preset | FLEX params | FLEX ex/s | U-Net params | U-Net ex/s | FLEX / U-Net |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        flex = examples_per_second(
            "flex", size, args.image, args.batch, args.steps, device, args.bf16
        )
        unet = examples_per_second(
            "unet", size, args.image, args.batch, args.steps, device, args.bf16
        )
        print(f"| {size} | {flex[1] / 1e6:.1f}M | {flex[0]:.1f} | {unet[1] / 1e6:.1f}M | "
              f"{unet[0]:.1f} | {flex[0] / unet[0]:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
