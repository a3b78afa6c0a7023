"""Training: overfitting one batch, checkpoints, kill -9 and resume, determinism, DDP on CPU."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from flex.config import TrainJob, load_study, to_dict
from flex.diffusion.schedule import CosineLogSNR
from flex.models import build_model, preset
from flex.train import checkpoint
from flex.train.objectives import MODEL_KINDS, batch_loss
from tests.conftest import SCHEMA, TINY, read_yaml


def tiny_job(model: str = "flex", task: str = "sr", **settings) -> TrainJob:
    study = load_study(read_yaml(TINY), SCHEMA)
    merged = dataclasses.replace(study.train.settings(task, model), **settings)
    return TrainJob(task, model, merged, study.data, study.coarsen.coarsen_factor,
                    study.reynolds_numbers.train, study.seeds.train, study.seeds.validation)  # fmt: skip


def train_command(job: TrainJob, results: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "flex.train", "--job", json.dumps(to_dict(job)), "--results",
            str(results / "results"), "--output-dir", str(output), "--threads", "1"]  # fmt: skip


def run_training(job: TrainJob, results: Path, output: Path) -> None:
    done = subprocess.run(train_command(job, results, output), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return checkpoint.load(path)["weights"]


@pytest.mark.parametrize("model", ["flex", "regression"])
def test_a_tiny_model_overfits_one_batch(model):
    torch.manual_seed(0)
    net = build_model(preset("flex", "tiny", 1, 32, dropout=0.0))
    batch = {"input": torch.randn(2, 1, 32, 32), "base": torch.randn(2, 1, 32, 32),
             "target": torch.randn(2, 1, 32, 32), "reynolds": torch.rand(2)}  # fmt: skip
    optimiser = torch.optim.AdamW(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(150):
        generator = torch.Generator().manual_seed(1)  # the same t and noise: one fixed batch
        loss = batch_loss(net, batch, MODEL_KINDS[model], CosineLogSNR(), "l1", generator)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


def test_checkpoint_rebuilds_the_model_from_its_file_alone(tiny_results, tmp_path):
    job = tiny_job(steps=4, validation_every=2, checkpoint_every=2)
    run_training(job, tiny_results, tmp_path)
    model, state = checkpoint.load_model(tmp_path / "model.pt")
    assert state["task"] == "sr" and state["model"] == "flex" and state["job"] == to_dict(job)
    assert set(state["normalisation"]) == {"vorticity", "u", "v"}
    assert state["reynolds_scale"] == job.data.reynolds_scale
    fresh = build_model(preset("flex", "tiny", 1, job.data.patch_size))
    fresh.load_state_dict(state["weights"])
    x = torch.randn(2, 1, 32, 32)
    args = (x, torch.rand(2), torch.rand(2), torch.randn(2, 1, 32, 32))
    torch.testing.assert_close(model(*args), fresh.eval()(*args))
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert history[0].startswith("step,train_loss,validation_loss") and len(history) == 3
    assert json.loads((tmp_path / "job.json").read_text()) == to_dict(job)


def test_same_seed_same_weights_other_seed_other_weights(tiny_results, tmp_path):
    job = tiny_job(model="unet", task="fc", steps=4, validation_every=2)
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        run_training(dataclasses.replace(job, settings=dataclasses.replace(job.settings, seed=seed)),
                     tiny_results, tmp_path / name)  # fmt: skip
    a, b, c = (weights(tmp_path / n / "model.pt") for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_a_job_killed_with_sigkill_resumes_and_ends_as_an_uninterrupted_run(tiny_results, tmp_path):
    job = tiny_job(steps=30, validation_every=10, checkpoint_every=3)
    run_training(job, tiny_results, tmp_path / "reference")
    killed = tmp_path / "killed"
    process = subprocess.Popen(train_command(job, tiny_results, killed), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if (killed / "checkpoint.pt").exists() and checkpoint.load(killed / "checkpoint.pt")[
            "step"
        ] >= 6:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    state = checkpoint.load(killed / "checkpoint.pt")  # never a corrupted checkpoint
    assert 6 <= state["step"] < job.settings.steps, "killed mid-run"
    assert not (killed / "model.pt").exists()
    run_training(job, tiny_results, killed)  # the rerun resumes
    assert checkpoint.load(killed / "checkpoint.pt")["step"] == job.settings.steps
    reference, resumed = weights(tmp_path / "reference/model.pt"), weights(killed / "model.pt")
    assert all(torch.equal(reference[k], resumed[k]) for k in reference)
    lines = (killed / "history.csv").read_text().splitlines()
    assert lines == (tmp_path / "reference/history.csv").read_text().splitlines()[:1] + lines[1:]
    assert len(lines) == 1 + job.settings.steps // job.settings.validation_every


def test_distributed_data_parallel_on_cpu_with_two_processes(tiny_results, tmp_path):
    job = tiny_job(model="flex", task="fc", steps=4, validation_every=2, checkpoint_every=2)
    command = train_command(job, tiny_results, tmp_path)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", "29517", "-m", "flex.train", *command[3:]]  # fmt: skip
    done = subprocess.run(torchrun, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    state = checkpoint.load(tmp_path / "checkpoint.pt")
    assert state["step"] == 4
    assert (tmp_path / "model.pt").exists()
    examples_per_s = [
        float(r.split(",")[4]) for r in (tmp_path / "history.csv").read_text().splitlines()[1:]
    ]
    assert all(rate > 0 for rate in examples_per_s)
