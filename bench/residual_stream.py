"""Is a trained model alive? The size of its transformer residual stream, block by block, and how
much its output moves when its inputs do.

    python bench/residual_stream.py results/train/fc/uvit/model.pt [more model files ...]
        [--task fc] [--batch 4] [--time 0.5] [--seed 0]

For each model file (single-task; a multi-task file with `--task`), on random inputs of its own
patch size (normalised units, the scale the network is trained on): the root-mean-square of the
output of every `TransformerBlock` (the residual stream; a healthy pre-LN transformer keeps it
O(1-10)), and the RMS of the network's output v_hat(z, t, Re, input) with the changes of that
output when the task input is zeroed and when the noisy state z is redrawn. A network whose
stream has grown by orders of magnitude normalises every token to the same vector in its last
LayerNorm: its output no longer depends on z or on the input (both changes ~0), and its samples
are draws that ignore the conditioning (member RFNE ~ sqrt(2) x the trivial baseline's).
"""

from __future__ import annotations

import argparse

import torch

from flex.kinds import INPUT_CHANNELS
from flex.models import for_task
from flex.models.blocks import TransformerBlock
from flex.models.checkpoint import load_model


def rms(x: torch.Tensor) -> float:
    return x.pow(2).mean().sqrt().item()


def measure(model, channels: int, size: int, batch: int = 4, time: float = 0.5, seed: int = 0
            ) -> dict:  # fmt: skip
    """Residual-stream RMS after each transformer block, output RMS, and the output's change
    when the task input is zeroed and when z is redrawn (random normalised inputs)."""
    streams: list[float] = []
    hooks = [module.register_forward_hook(lambda _m, _i, out: streams.append(rms(out)))
             for module in model.modules() if isinstance(module, TransformerBlock)]  # fmt: skip
    generator = torch.Generator().manual_seed(seed)
    z, z_other = (torch.randn(batch, 1, size, size, generator=generator) for _ in range(2))
    task_input = torch.randn(batch, channels, size, size, generator=generator)
    reynolds, t = torch.full((batch,), 0.6), torch.full((batch,), time)
    with torch.no_grad():
        out = model(z, t, reynolds, task_input)
        stream = list(streams)
        no_input = model(z, t, reynolds, torch.zeros_like(task_input))
        other_z = model(z_other, t, reynolds, task_input)
    for hook in hooks:
        hook.remove()
    return {"stream": stream, "output": rms(out), "input_change": rms(out - no_input),
            "z_change": rms(out - other_z)}  # fmt: skip


def probe(path: str, task: str | None, batch: int, time: float, seed: int) -> str:
    model, _ = load_model(path)
    config = model.config
    if config.tasks:
        if task is None:
            raise SystemExit(f"{path} is a multi-task model: give --task (one of {config.tasks})")
        model, channels = for_task(model, task), INPUT_CHANNELS[task]
    else:
        channels = config.input_channels
    found = measure(model, channels, config.image_size, batch, time, seed)
    stream = " ".join(f"{value:.3g}" for value in found["stream"])
    return (f"| {path} | {stream} | {found['output']:.3f} | {found['input_change']:.3f} | "
            f"{found['z_change']:.3f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--task", default=None, help="the task of a multi-task model file")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--time", type=float, default=0.5, help="diffusion time t of the call")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| model | residual stream RMS after each transformer block | output RMS | "
          "change, input zeroed | change, z redrawn |")  # fmt: skip
    print("|---|---|---|---|---|")
    for path in args.models:
        print(probe(path, args.task, args.batch, args.time, args.seed))


if __name__ == "__main__":
    main()
