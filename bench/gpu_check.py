"""The GPU check: the three numbers a GPU node must deliver, measured in one run, written to a file.

    python -m bench.gpu_check [--output gpu_check.json]          # on one GPU, under 8 minutes
    python -m bench.gpu_check --grid 64 --patch 32 --size tiny --batch 2 --members 2  # CPU, small

1. Solver: steps/s of the project's vorticity equation (`ForcedVorticityEquation`,
   crank_nicolson_rk4, float32, Re = 1000) at `--grid` (the paper's 2048^2), against the FFT floor
   of one step (5 stages x (4 irfft2 + 1 rfft2), nothing else; bench/simulate_solver.py): the
   ratio step / floor (target <= 1.5).
2. Training: FLEX `--size` (the paper's small) at `--patch`^2 (256), batch `--batch`, bf16
   autocast on a GPU, one step = task encoder + backbone forward, L1 v-loss, backward, Lion step:
   examples/s, model FLOPs per step (`torch.utils.flop_counter`: matrix products and convolutions,
   forward and backward, 1 multiply-add = 2 FLOPs) and the model FLOPs utilisation
   MFU = FLOPs per step x steps/s / peak, with the peak dense bf16 rate of the GPU (PEAK_TFLOPS,
   or --peak-tflops; none on a CPU).
3. Sampling: ensemble members/s of the same model, `--steps` DDIM steps, `--inputs` x `--members`
   members in one batch (`flex.diffusion.predict`, random weights: speed does not depend on them).

Writes a JSON file with the device, the versions and the three results; prints it.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import jax
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.sample_throughput import timed
from bench.simulate_solver import benchmark_case, time_equation, time_fft_floor
from bench.train_throughput import steps_per_second, training_step
from flex.diffusion.predict import predict
from flex.diffusion.schedule import CosineLogSNR
from flex.kinds import MODEL_KINDS
from flex.models import build_model, parameter_count, preset

PEAK_TFLOPS = {"H200": 989.4, "H100 PCIe": 756.0, "H100": 989.4, "A100": 312.0, "L40S": 362.1}
"""Dense bf16 tensor-core peak (TFLOP/s, no sparsity) of GPUs by a part of their name, from
NVIDIA's data sheets (H100/H200 SXM, H100 PCIe, A100, L40S); the first match wins."""


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    if override is not None:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for part, peak in PEAK_TFLOPS.items() if part in name), None)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def solver(grid_size: int, steps: int, repeats: int) -> dict:
    _, equation, state, dt = benchmark_case(grid_size)
    step = time_equation(equation, state, dt, steps, repeats)
    floor = time_fft_floor(grid_size, state, steps, repeats)
    return {"grid": grid_size, "backend": jax.default_backend(), "ms_per_step": step * 1e3,
            "steps_per_s": 1 / step, "fft_floor_ms": floor * 1e3,
            "step_over_floor": step / floor}  # fmt: skip


def training(size: str, patch: int, batch: int, steps: int, device: torch.device, bf16: bool,
             peak: float | None) -> dict:  # fmt: skip
    step, model = training_step("flex", size, patch, batch, device, bf16)
    with FlopCounterMode(display=False) as counter:
        step()
    rate = steps_per_second(step, steps, device, warmup=1)  # after the counted step
    flops = counter.get_total_flops()
    achieved = flops * rate / 1e12
    return {"model": f"flex {size}", "parameters": parameter_count(model), "patch": patch,
            "batch": batch, "bf16": bf16, "examples_per_s": rate * batch,
            "model_tflop_per_step": flops / 1e12, "achieved_tflops": achieved,
            "peak_tflops": peak, "mfu": achieved / peak if peak else None}  # fmt: skip


@torch.no_grad()
def sampling(size: str, patch: int, inputs: int, members: int, steps: int,
             device: torch.device, bf16: bool) -> dict:  # fmt: skip
    torch.manual_seed(0)
    model = build_model(preset("flex", size, 1, patch)).to(device).eval()
    task_input = torch.randn(inputs, 1, patch, patch, device=device)
    base, reynolds = task_input.clone(), torch.rand(inputs, device=device)
    seeds = [[b * members + k for k in range(members)] for b in range(inputs)]

    def run() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            predict(model, MODEL_KINDS["flex"], task_input, base, reynolds, seeds, steps,
                    CosineLogSNR())  # fmt: skip
        synchronize(device)

    elapsed = timed(run, repeats=1)  # after one warm-up run
    return {"model": f"flex {size}", "patch": patch, "ddim_steps": steps,
            "members": inputs * members, "members_per_s": inputs * members / elapsed}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--grid", type=int, default=2048, help="solver grid (paper: 2048)")
    parser.add_argument("--solver-steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="small", help="FLEX preset (paper: small)")
    parser.add_argument("--patch", type=int, default=256, help="training patch (paper: 256)")
    parser.add_argument("--batch", type=int, default=16, help="training batch per GPU")
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--inputs", type=int, default=16)
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2, help="DDIM steps of the sampler")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak bf16 TFLOP/s")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    bf16 = device.type == "cuda"
    result = {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "versions": {
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "jax": jax.__version__,
            "jax_devices": [str(d) for d in jax.devices()],
        },
        "solver": solver(args.grid, args.solver_steps, args.repeats),
        "training": training(
            args.size,
            args.patch,
            args.batch,
            args.train_steps,
            device,
            bf16,
            peak_tflops(device, args.peak_tflops),
        ),
        "sampling": sampling(
            args.size, args.patch, args.inputs, args.members, args.steps, device, bf16
        ),
    }
    args.output.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
