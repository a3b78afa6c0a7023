"""The GPU check (bench/gpu_check.py) and the wall-bounded solver's bench run end to end on the
CPU at a small size."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench import gpu_check
from tests.conftest import ROOT


@pytest.mark.slow
def test_the_gpu_check_measures_solver_training_and_sampling_and_writes_them(tmp_path):
    output = tmp_path / "check.json"
    result = gpu_check.main(["--output", str(output), "--grid", "32", "--solver-steps", "5",
                             "--repeats", "1", "--size", "tiny", "--patch", "32", "--batch", "2",
                             "--train-steps", "1", "--inputs", "1", "--members", "2",
                             "--device", "cpu", "--peak-tflops", "2.0"])  # fmt: skip
    assert json.loads(output.read_text()) == result
    solver, training, sampling = result["solver"], result["training"], result["sampling"]
    assert solver["grid"] == 32 and solver["steps_per_s"] > 0 and solver["step_over_floor"] > 0
    assert solver["steps_per_s"] == pytest.approx(1e3 / solver["ms_per_step"])
    assert training["parameters"] > 1e6 and training["examples_per_s"] > 0
    assert training["model_tflop_per_step"] > 0 and training["bf16"] is False
    assert training["mfu"] == pytest.approx(training["achieved_tflops"] / 2.0)
    assert sampling["members"] == 2 and sampling["members_per_s"] > 0


def test_peak_rates_are_known_only_for_named_gpus():
    import torch

    assert gpu_check.peak_tflops(torch.device("cpu"), None) is None
    assert gpu_check.peak_tflops(torch.device("cpu"), 5.0) == 5.0


def test_the_channel_bench_prints_the_ratio_for_each_grid():
    done = subprocess.run(
        [sys.executable, "bench/simulate_channel.py", "--grids", "16", "--saves", "1",
         "--repeats", "1"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("| 16^2")]
    periodic, channel, ratio = (float(cell) for cell in row.strip("|").split("|")[1:])
    assert periodic > 0 and channel > 0 and abs(ratio - channel / periodic) < 0.01
