"""What each trained model of a study costs: parameters, training FLOPs per example, examples/s.

    python bench/model_cost.py [--config config/config.yaml] [--steps 10] [--threads 1]

For every (task, model) the study trains, the backbone `flex.train` builds (same preset, patch,
input channels and optimiser), one training step on random data of the job's batch size:
task encoder + backbone forward, loss, backward, optimiser step. FLOPs are counted by
`torch.utils.flop_counter` (matrix products and convolutions, forward and backward; 1 multiply-add
= 2 FLOPs) and divided by the examples (a multi-task step has one of each task per batch
row). The latent transformer's share is that of FLEX's parameters
in its token blocks. Examples/s are timed over `--steps` steps after 2 warm-up steps, with
`--threads` torch threads (1: one training job of the default study on a 2-core machine runs
beside another). The data loader is measured apart (bench/data_loader.py).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from flex.config.load import load_study_file
from flex.diffusion.schedule import CosineLogSNR
from flex.kinds import INPUT_CHANNELS, MODEL_KINDS
from flex.models import build_model, parameter_count
from flex.plan import StudyPlan
from flex.train.objectives import batch_loss, crps_settings
from flex.train.optim import make_optimizer
from flex.train.run import model_config


def random_batch(task: str, batch: int, patch: int) -> dict[str, torch.Tensor]:
    data = {"input": torch.randn(batch, INPUT_CHANNELS[task], patch, patch)}
    data.update({k: torch.randn(batch, 1, patch, patch) for k in ("base", "target")})
    data["reynolds"] = torch.rand(batch)
    return data


def transformer_share(model) -> float | None:
    if not hasattr(model, "transformer"):
        return None
    blocks = parameter_count(model.transformer) + parameter_count(model.decoder.blocks)
    return blocks / parameter_count(model)


def measure(job, steps: int) -> dict[str, float]:
    settings, kind = job.settings, MODEL_KINDS[job.model]
    torch.manual_seed(0)
    model = build_model(model_config(job))
    optimiser = make_optimizer(model.parameters(), settings)
    schedule = CosineLogSNR(shift=settings.logsnr_shift)
    data = {task: random_batch(task, settings.batch_size, job.patch(task)) for task in job.tasks}
    data = data if kind.multitask else data[job.task]

    def step() -> None:
        loss = batch_loss(model, data, kind, schedule, settings.loss,
                          crps=crps_settings(settings, kind))  # fmt: skip
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    with FlopCounterMode(display=False) as counter:
        step()
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    elapsed = time.perf_counter() - start
    examples = settings.batch_size * len(job.tasks)  # a multi-task step: one of each task
    return {
        "parameters": parameter_count(model),
        "transformer_share": transformer_share(model),
        "gflop_per_example": counter.get_total_flops() / examples / 1e9,
        "examples_per_s": steps * examples / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    study, _ = load_study_file(args.config)
    plan = StudyPlan(study)
    print(f"{args.config}: torch threads {torch.get_num_threads()}, training steps of "
          f"{args.steps} batches")  # fmt: skip
    print("| task | model | backbone | preset | patch | parameters | transformer share | "
          "training GFLOP / example | examples/s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for planned in plan.jobs("train"):
        job = planned.job
        cost = measure(job, args.steps)
        share = cost["transformer_share"]
        print(f"| {job.task} | {job.model} | {MODEL_KINDS[job.model].backbone} | "
              f"{job.settings.model_size} | {', '.join(f'{p}^2' for p in job.patch_sizes)} | "
              f"{cost['parameters'] / 1e6:.2f}M | {'-' if share is None else f'{share:.1%}'} | "
              f"{cost['gflop_per_example']:.2f} | {cost['examples_per_s']:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
