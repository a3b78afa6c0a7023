"""The GPU check (bench/gpu_check.py), the wall-bounded solver's bench and the residual-stream
probe run on the CPU at a small size; the learning curves' report reads the train stage's own
history files."""

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
    assert periodic > 0 and channel > 0
    # the times are printed to 3 decimals (ms) and the ratio to 2, each rounded: at 16^2 a step
    # takes a tenth of a millisecond, so the ratio of the printed times may differ from the
    # printed ratio by more than its own rounding; it must lie within the rounding of all three
    half = 0.0005
    low, high = (channel - half) / (periodic + half), (channel + half) / max(periodic - half, 1e-9)
    assert low - 0.005 <= ratio <= high + 0.005


def test_the_residual_stream_probe_tells_a_live_network_from_a_diverged_one():
    """bench/residual_stream.py: a freshly built UViT keeps an O(1) stream and its output follows
    z and the task input. Give its decoder's skip fusions a huge constant bias (the direction a
    diverged optimiser grows, common to every token and input): the stream grows by orders of
    magnitude, the last LayerNorm maps every token to the same vector, and the output no longer
    depends on z or the input, as in the forecasting UViT trained with Lion at 2e-4."""
    import torch

    from bench.residual_stream import measure
    from flex.models import build_model, preset

    torch.manual_seed(0)
    model = build_model(preset("uvit", "tiny", 2, 32)).eval()
    alive = measure(model, channels=2, size=32)
    assert max(alive["stream"]) < 10
    assert min(alive["input_change"], alive["z_change"]) > 0.05 * alive["output"]
    with torch.no_grad():
        for block in model.decoder.blocks:
            block.fuse.bias.copy_(1e5 * torch.randn_like(block.fuse.bias))
    dead = measure(model, channels=2, size=32)
    assert dead["stream"][-1] > 1e4 * max(alive["stream"])
    assert max(dead["input_change"], dead["z_change"]) < 1e-3 * alive["output"]


@pytest.mark.slow
def test_the_learning_curves_report_reads_the_histories_the_train_stage_writes(
    tiny_results, tmp_path
):
    """The table and figure of `bench/learning_curves.py --report-only` from the tiny study's
    histories (written by the real train stage, a `task` column among the numbers): the RFNE at
    every doubling of the validation steps, and the improvement over the last doubling."""
    import csv
    import shutil

    runs = {"sr/flex/lion/2e-4": "sr_flex_lion_0.0002", "fc/unet/lion/2e-4": "fc_unet_lion_0.0002"}
    for run, name in runs.items():
        task, model = run.split("/")[:2]
        (tmp_path / name).mkdir()
        shutil.copy(tiny_results / f"results/train/{task}/{model}/history.csv", tmp_path / name)
    done = subprocess.run(
        [sys.executable, "bench/learning_curves.py", "--report-only", "--study-dir",
         str(tiny_results), "--config", "tests/config/tiny.yaml", "--output", str(tmp_path),
         "--figure", str(tmp_path / "curves.png"), "--runs", *runs],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert (tmp_path / "curves.png").stat().st_size > 0
    for name in runs.values():
        with open(tmp_path / name / "history.csv") as handle:
            rfne = {int(r["step"]): float(r["validation_rfne"]) for r in csv.DictReader(handle)}
        (row,) = [line for line in done.stdout.splitlines() if line.startswith(f"| {name} ")]
        first, last = min(rfne), 2 * min(rfne)  # validation every 3 of 6 steps: one doubling
        assert f"{first}: {rfne[first]:.3f}, {last}: {rfne[last]:.3f}" in row
        gain = (rfne[first] - rfne[last]) / rfne[first]
        assert f"| {gain:+.1%} |" in row


@pytest.mark.slow
def test_the_study_time_report_accounts_for_every_job_of_the_tiny_run(tiny_results):
    """bench/study_time.py on the Snakemake log of the tiny study's run: every job the plan made
    is found with its rule, each lasted at least its own benchmark file's wall time (Snakemake
    times the job inside its start and end, both logged to the second), the occupancy spans add
    up to the wall and no more jobs ran at once than the run's --cores; and the run started
    every training job before any sample job of a trained model (the data and training rules'
    priority)."""
    import csv

    from bench import study_time

    log = sorted((tiny_results / ".snakemake/log").glob("*.snakemake.log"))[0]
    jobs = study_time.parse_log(log.read_text().splitlines())
    outputs = {job.output: job for job in jobs}
    benchmarks = {str(path.relative_to(tiny_results)): path
                  for path in (tiny_results / "benchmarks").rglob("*.tsv")}  # fmt: skip
    assert {job.benchmark for job in jobs if job.benchmark} == set(benchmarks)
    assert len(jobs) == len(benchmarks) + 3  # and summary, figures, all
    for job in jobs:
        if job.benchmark:
            with open(benchmarks[job.benchmark]) as handle:
                seconds = float(next(csv.DictReader(handle, delimiter="\t"))["s"])
            assert job.seconds >= seconds - 1.0, (job.benchmark, job.seconds, seconds)
    assert {job.rule for job in jobs} >= {"simulate", "coarsen", "train", "sample", "evaluate"}
    assert outputs["results/train/sr/flex/model.pt"].model == "sr/flex"
    spans = study_time.occupancy(jobs)
    wall = (max(j.end for j in jobs) - min(j.start for j in jobs)).total_seconds()
    assert sum(spans.values()) == pytest.approx(wall)
    assert max(n for n, s in spans.items() if s > 0) <= 2
    # DATA_AND_TRAINING_PRIORITY: every training job started before the first sample job of a
    # trained model (none of them is a fine-tuning job, which waits for another training)
    trains = [job.start for job in jobs if job.rule == "train"]
    samples = [job.start for job in jobs if job.rule == "sample"]
    assert len(trains) == 11 and max(trains) <= min(samples)
    text = study_time.report(jobs, cores=2, without="sr/flex/")
    assert f"{len(jobs)} jobs" in text and "| train | " in text and "matching 'sr/flex/'" in text
