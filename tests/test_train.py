"""Training: overfitting one batch, checkpoints, kill -9 and resume, determinism, DDP on CPU."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from flex.config import TrainJob, to_dict
from flex.config.load import load_study
from flex.diffusion.schedule import CosineLogSNR
from flex.kinds import MODEL_KINDS, MULTITASK
from flex.models import build_model, checkpoint, preset
from flex.plan import StudyPlan
from flex.train.objectives import batch_loss
from flex.train.resume import resume_key
from tests.conftest import SCHEMA, TINY, read_yaml

STUDY = load_study(read_yaml(TINY), SCHEMA)


def tiny_job(model: str = "flex", task: str = "sr", **settings) -> TrainJob:
    """The tiny study's job of (task, model) with `settings` changed; task "mt": multi-task."""
    merged = dataclasses.replace(StudyPlan(STUDY).train_settings(task, model), **settings)
    tasks = STUDY.train.tasks if task == MULTITASK else (task,)
    return TrainJob(task, model, merged, tasks, tuple(STUDY.data.patch(t) for t in tasks),
                    STUDY.data.reynolds_scale, STUDY.reynolds_numbers.train, STUDY.seeds.train,
                    STUDY.seeds.validation)  # fmt: skip


def train_command(
    job: TrainJob, results: Path, output: Path, checkpoint_every: int = 2
) -> list[str]:
    """The command of the workflow's rule, with the tiny study's input files under `results`."""
    # every model of a task trains on the same files: those of the tiny study's first model
    task = "sr" if job.task == MULTITASK else job.task  # the sr inputs hold every file
    inputs = StudyPlan(STUDY).job("train", {"task": task, "model": STUDY.train.models[0]}).inputs
    execution = dataclasses.replace(STUDY.execution.train, checkpoint_every=checkpoint_every)
    command = [sys.executable, "-m", "flex.train", "--job", json.dumps(to_dict(job)),
               "--execution", json.dumps(to_dict(execution)), "--threads", "1"]  # fmt: skip
    for name, files in inputs.items():
        files = [files] if isinstance(files, str) else files
        command += [f"--{name.replace('_', '-')}", *(str(results / f) for f in files)]
    for name in ("model", "history", "job"):
        suffix = {"model": "model.pt", "history": "history.csv", "job": "job.json"}[name]
        command += [f"--{name}-output", str(output / suffix)]
    return command


def run_training(job: TrainJob, results: Path, output: Path, checkpoint_every: int = 2) -> None:
    done = subprocess.run(train_command(job, results, output, checkpoint_every),
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return checkpoint.load(path)["weights"]


@pytest.mark.parametrize("model", ["flex", "regression"])
def test_a_tiny_model_overfits_one_batch(model):
    torch.manual_seed(0)
    net = build_model(preset("flex", "tiny", 1, 32, dropout=0.0))
    batch = {"input": torch.randn(2, 1, 32, 32), "base": torch.randn(2, 1, 32, 32),
             "target": torch.randn(2, 1, 32, 32), "reynolds": torch.rand(2)}  # fmt: skip
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3)  # 2e-3, no warm-up: 13 blocks diverge
    losses = []
    for _ in range(150):
        generator = torch.Generator().manual_seed(1)  # the same t and noise: one fixed batch
        loss = batch_loss(net, batch, MODEL_KINDS[model], CosineLogSNR(), "l1", generator)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


def test_a_tiny_crps_model_overfits_one_batch():
    """Through the unrolled 2-step sampler: with fixed noise the members can all reach the target,
    so the fair CRPS of one fixed batch falls tenfold."""
    torch.manual_seed(0)
    net = build_model(preset("flex", "tiny", 1, 32, dropout=0.0))
    batch = {"input": torch.randn(2, 1, 32, 32), "base": torch.randn(2, 1, 32, 32),
             "target": torch.randn(2, 1, 32, 32), "reynolds": torch.rand(2)}  # fmt: skip
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(150):
        generator = torch.Generator().manual_seed(1)
        loss = batch_loss(net, batch, MODEL_KINDS["flex_crps"], CosineLogSNR(), "l1", generator,
                          crps=(2, 2))  # fmt: skip
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


def test_a_crps_model_trains_through_the_stage_and_samples(tiny_results, tmp_path):
    """flex_crps as a user adds it to train.models: the train stage writes its model, and the
    sample stage draws distinct members from it."""
    job = tiny_job(model="flex_crps", steps=4, validation_every=2)
    assert (job.settings.crps_members, job.settings.crps_steps) == (2, 2)
    run_training(job, tiny_results, tmp_path)
    model, state = checkpoint.load_model(tmp_path / "model.pt")
    assert state["model"] == "flex_crps"
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert len(history) == 3
    from flex.diffusion.predict import predict

    x = torch.randn(1, 1, 32, 32)
    members = predict(model, MODEL_KINDS["flex_crps"], x, x, torch.rand(1), [[1, 2, 3]], 2,
                      CosineLogSNR())  # fmt: skip
    assert members.shape == (1, 3, 1, 32, 32)
    assert not torch.equal(members[0, 0], members[0, 1])


def test_fine_tuning_starts_from_the_trained_weights(tiny_results, tmp_path):
    """flex_crps fine-tuned from the tiny study's sr FLEX with Lion: Lion moves every weight by
    exactly the learning rate per step (sign update, no weight decay), so after `steps` steps no
    weight is further than steps x lr from FLEX's, whose EMA started there too. The job's seed
    differs from FLEX's, so weights it did not load would be another random draw, far away."""
    source = tiny_results / "results/train/sr/flex/model.pt"
    lr, steps = 1e-4, 2
    job = tiny_job(model="flex_crps", steps=steps, validation_every=1, learning_rate=lr, seed=1,
                   warmup_steps=0, weight_decay=0.0, optimizer="lion", init_from="flex")  # fmt: skip
    assert job.settings.seed != checkpoint.load(source)["job"]["settings"]["seed"]
    command = [*train_command(job, tiny_results, tmp_path), "--init-model", str(source)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"starting from the weights of {source}" in done.stderr
    ours, theirs = weights(tmp_path / "model.pt"), weights(source)
    floating = [k for k in theirs if theirs[k].is_floating_point()]
    distance = max(float((ours[k] - theirs[k]).abs().max()) for k in floating)
    assert 0 < distance <= steps * lr * (1 + 1e-2)


def test_the_resume_key_of_a_fine_tuned_job_follows_the_weights_it_starts_from(tmp_path):
    """A model file among the inputs enters the key by its contents: retrained weights (same
    name, same size) give another key, so the job starts afresh."""
    job, path = tiny_job(model="flex_crps", init_from="flex"), tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(4)}, path)
    first = resume_key(job, [path])
    assert resume_key(job, [path]) == first
    torch.save({"weights": torch.ones(4)}, path)
    assert resume_key(job, [path]) != first


def test_fine_tuning_refuses_a_model_of_another_architecture(tiny_results, tmp_path):
    job = tiny_job(model="flex_crps", steps=1, validation_every=1, init_from="flex")
    source = tiny_results / "results/train/fc/flex/model.pt"  # two input channels, not one
    command = [*train_command(job, tiny_results, tmp_path), "--init-model", str(source)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode != 0
    assert "has another architecture (input_channels differ)" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and not (tmp_path / "model.pt").exists()


def test_checkpoint_rebuilds_the_model_from_its_file_alone(tiny_results, tmp_path):
    job = tiny_job(steps=4, validation_every=2)
    run_training(job, tiny_results, tmp_path)
    model, state = checkpoint.load_model(tmp_path / "model.pt")
    assert state["task"] == "sr" and state["model"] == "flex" and state["job"] == to_dict(job)
    assert set(state["normalisation"]) == {"vorticity", "u", "v"}
    assert state["reynolds_scale"] == job.reynolds_scale
    assert state["patch_sizes"] == {"sr": job.patch("sr")} and state["coarsen_factor"] == 8
    assert state["execution"]["checkpoint_every"] == 2  # recorded, not a parameter
    fresh = build_model(preset("flex", "tiny", 1, job.patch("sr")))
    fresh.load_state_dict(state["weights"])
    x = torch.randn(2, 1, 32, 32)
    args = (x, torch.rand(2), torch.rand(2), torch.randn(2, 1, 32, 32))
    torch.testing.assert_close(model(*args), fresh.eval()(*args))
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert history[0].startswith("step,task,train_loss,validation_loss") and len(history) == 3
    assert json.loads((tmp_path / "job.json").read_text())["job"] == to_dict(job)


def test_same_seed_same_weights_other_seed_other_weights(tiny_results, tmp_path):
    job = tiny_job(model="unet", task="fc", steps=4, validation_every=2)
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        run_training(dataclasses.replace(job, settings=dataclasses.replace(job.settings, seed=seed)),
                     tiny_results, tmp_path / name)  # fmt: skip
    a, b, c = (weights(tmp_path / n / "model.pt") for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_a_job_killed_with_sigkill_resumes_and_ends_as_an_uninterrupted_run(tiny_results, tmp_path):
    job = tiny_job(steps=30, validation_every=10)
    run_training(job, tiny_results, tmp_path / "reference", checkpoint_every=3)
    killed = tmp_path / "killed"
    process = subprocess.Popen(train_command(job, tiny_results, killed, checkpoint_every=3),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
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
    run_training(job, tiny_results, killed, checkpoint_every=3)  # the rerun resumes
    assert checkpoint.load(killed / "checkpoint.pt")["step"] == job.settings.steps
    reference, resumed = weights(tmp_path / "reference/model.pt"), weights(killed / "model.pt")
    assert all(torch.equal(reference[k], resumed[k]) for k in reference)
    lines = (killed / "history.csv").read_text().splitlines()
    assert lines == (tmp_path / "reference/history.csv").read_text().splitlines()[:1] + lines[1:]
    assert len(lines) == 1 + job.settings.steps // job.settings.validation_every


def torchrun(ranks: int, command: list[str]) -> subprocess.CompletedProcess:
    """The train command as `ranks` CPU processes (gloo), as the rule launches them on one node."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                str(ranks), "-m", "flex.train", *command[3:]]  # fmt: skip
    return subprocess.run(launcher, capture_output=True, text=True, timeout=600)


def test_two_ranks_train_as_one_rank_with_twice_the_batch(tiny_results, tmp_path):
    """Data parallel: 2 ranks of batch 2 end with the weights, EMA and history of 1 rank of batch
    4 (same examples, same noise; gradients averaged). Without dropout, whose masks are alike in
    distribution only; AdamW, whose update is smooth in the gradient (Lion's sign is not)."""
    settings = {"model": "flex", "task": "sr", "steps": 4, "validation_every": 2, "dropout": 0.0,
                "optimizer": "adamw"}  # fmt: skip
    run_training(tiny_job(batch_size=4, **settings), tiny_results, tmp_path / "one")
    two = tiny_job(batch_size=2, ranks=2, **settings)
    done = torchrun(2, train_command(two, tiny_results, tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = (checkpoint.load(tmp_path / name / "checkpoint.pt") for name in ("one", "two"))
    assert one["step"] == two["step"] == 4
    for part in ("model", "ema"):
        for name, value in one[part].items():
            assert torch.allclose(value, two[part][name], rtol=1e-4, atol=1e-6), (part, name)
    for row_one, row_two in zip(one["history"], two["history"], strict=True):
        for column in ("train_loss", "validation_loss", "validation_rfne", "baseline_rfne"):
            assert row_two[column] == pytest.approx(row_one[column], rel=1e-4), column


def test_a_job_started_as_other_ranks_than_its_own_stops(tiny_results, tmp_path):
    job = tiny_job(model="flex", task="fc", steps=2, ranks=2)
    done = subprocess.run(
        train_command(job, tiny_results, tmp_path), capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "the job has ranks = 2 (train.defaults.ranks or its override), but 1 process" in (
        done.stderr
    )
    assert not (tmp_path / "model.pt").exists()


def _log_of(job: TrainJob, results: Path, output: Path, checkpoint_every: int = 2) -> str:
    done = subprocess.run(train_command(job, results, output, checkpoint_every),
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def test_a_checkpoint_is_resumed_only_with_the_same_input_data(tiny_results, tmp_path):
    """The same job and code on regenerated inputs (coarse files of another method) start afresh,
    as does a damaged checkpoint; a finished job with the same inputs re-emits its model."""
    from flex.coarsen.run import run as coarsen
    from flex.config import CoarsenConfig, CoarsenExecution, CoarsenJob

    copy = tmp_path / "copy"
    shutil.copytree(tiny_results / "results", copy / "results")
    job, output = tiny_job(steps=4, validation_every=2), tmp_path / "model"
    _log_of(job, copy, output)
    first = weights(output / "model.pt")
    again = _log_of(job, copy, output)  # finished, same inputs: resumed at its last step
    assert "resumed from" in again and "at step 4" in again
    assert all(torch.equal(first[k], w) for k, w in weights(output / "model.pt").items())
    (output / "checkpoint.pt").write_bytes(b"\x80\x02 not a whole checkpoint")
    damaged = _log_of(job, copy, output)
    assert f"ignoring damaged {output / 'checkpoint.pt'} (UnpicklingError" in damaged
    assert "resumed from" not in damaged
    assert all(torch.equal(first[k], w) for k, w in weights(output / "model.pt").items())
    for path in sorted((copy / "results/coarsen").glob("re*_seed1[12].nc")):
        fine = copy / "results/simulate" / path.name
        coarsen(CoarsenJob(CoarsenConfig("box_average", 8)), CoarsenExecution(4), fine, path)
    changed = _log_of(job, copy, output)
    assert "made with other settings, code or input data; starting afresh" in changed
    assert "resumed from" not in changed
    other = weights(output / "model.pt")
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_a_diverging_run_stops_with_the_step_and_the_setting_to_change(tiny_results, tmp_path):
    """Lion moves every weight by the learning rate: at 1e30 the squared error overflows."""
    job = tiny_job(steps=6, validation_every=3, learning_rate=1.0e30, warmup_steps=0, loss="mse")
    done = subprocess.run(train_command(job, tiny_results, tmp_path), capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "training sr/flex diverged: loss inf at step 2" in done.stderr
    assert "train.defaults.learning_rate (now 1e+30)" in done.stderr
    assert not (tmp_path / "model.pt").exists()


def test_learning_rate_schedules_have_their_closed_forms():
    from flex.train.optim import learning_rate_factor

    warmup, total = 10, 110
    assert learning_rate_factor(0, warmup, total) == pytest.approx(0.1)
    assert learning_rate_factor(9, warmup, total) == pytest.approx(1.0)
    assert learning_rate_factor(60, warmup, total) == pytest.approx(0.5)  # half-way: cos(pi/2)
    assert learning_rate_factor(110, warmup, total) == pytest.approx(0.0, abs=1e-12)
    for step in (9, 10, 60, 110, 500):
        assert learning_rate_factor(step, warmup, total, "constant") == 1.0
    assert learning_rate_factor(4, warmup, total, "constant") == pytest.approx(0.5)


@pytest.mark.parametrize("model", ["flex", "regression", "flex_crps"])
def test_validation_rfne_of_the_ensemble_mean(model):
    """RFNE pooled over examples: the ensemble mean's never exceeds the members' (the mean
    squared error of the mean is at most the members' mean squared error); a deterministic
    model's members are one prediction, so both are equal."""
    from flex.train.run import score_validation

    torch.manual_seed(0)
    net = build_model(preset("flex", "tiny", 1, 32)).eval()
    for parameter in net.parameters():  # leave the zero initialisation: members must differ
        torch.nn.init.normal_(parameter, std=0.02)
    generator = torch.Generator().manual_seed(3)
    batches = [{k: torch.randn(2, 1, 32, 32, generator=generator)
                for k in ("input", "base", "target")} | {"reynolds": torch.rand(2)}
               for _ in range(2)]  # fmt: skip
    settings = dataclasses.replace(StudyPlan(STUDY).train_settings("sr", model),
                                   validation_members=4)  # fmt: skip
    scores = score_validation(net, batches, MODEL_KINDS[model], CosineLogSNR(), settings,
                              torch.device("cpu"))  # fmt: skip
    if model == "regression":
        assert scores["validation_rfne"] == pytest.approx(scores["validation_member_rfne"])
    else:
        assert scores["validation_rfne"] < scores["validation_member_rfne"]
    norm = sum(float((b["target"] ** 2).sum()) for b in batches)
    error = sum(float(((b["base"] - b["target"]) ** 2).sum()) for b in batches)
    assert scores["baseline_rfne"] == pytest.approx((error / norm) ** 0.5)


# -- the multi-task model (flex_mt) -------------------------------------------------------------


def _random_batch(channels: int, side: int, generator: torch.Generator) -> dict:
    return {"input": torch.randn(3, channels, side, side, generator=generator),
            "base": torch.randn(3, 1, side, side, generator=generator),
            "target": torch.randn(3, 1, side, side, generator=generator),
            "reynolds": torch.rand(3, generator=generator)}  # fmt: skip


@pytest.mark.parametrize("sides", [(32, 32), (32, 16)])
def test_the_multitask_loss_is_the_mean_of_the_task_losses_at_shared_time_and_noise(sides):
    """Against the authors' definition written out per task: one t and one eps (the smaller
    patch its top-left part) for both tasks, v = alpha eps - sigma r for each task's residual r,
    the network run on each task alone, L1 averaged over the two tasks."""
    from flex.diffusion.loss import time_and_noise

    torch.manual_seed(0)
    net = build_model(preset("flex", "tiny", 0, max(sides), dropout=0.0, tasks=("sr", "fc"),
                             task_channels=(1, 2))).eval()  # fmt: skip
    for parameter in net.parameters():  # leave the zero initialisation: v_hat must not vanish
        torch.nn.init.normal_(parameter, std=0.02)
    data = torch.Generator().manual_seed(1)
    batches = {"sr": _random_batch(1, sides[0], data), "fc": _random_batch(2, sides[1], data)}
    schedule = CosineLogSNR()
    loss = batch_loss(net, batches, MODEL_KINDS["flex_mt"], schedule, "l1",
                      torch.Generator().manual_seed(7))  # fmt: skip
    largest = batches["sr"]["target"]
    t, eps = time_and_noise(largest, torch.Generator().manual_seed(7))
    alpha, sigma = (v.float()[:, None, None, None] for v in schedule.alpha_sigma(t))
    expected = []
    for task, batch in batches.items():
        side = batch["target"].shape[-1]
        r, noise = batch["target"] - batch["base"], eps[..., :side, :side]
        features = net.encode_task(batch["input"], batch["reynolds"], task)
        v_hat = net.denoise(alpha * r + sigma * noise, t, batch["reynolds"], features)
        expected.append((v_hat - (alpha * noise - sigma * r)).abs().mean())
    torch.testing.assert_close(loss, sum(expected) / 2)


def test_the_multitask_model_trains_through_the_stage_and_samples_each_task(tiny_results,
                                                                            tmp_path):  # fmt: skip
    """flex_mt: one job for both tasks writes one model file; the history has a row per task
    and validation; each task's model samples that task's inputs."""
    from flex.diffusion.predict import predict
    from flex.models import for_task

    job = tiny_job(model="flex_mt", task=MULTITASK, steps=4, validation_every=2)
    assert job.tasks == ("sr", "fc")
    run_training(job, tiny_results, tmp_path)
    model, state = checkpoint.load_model(tmp_path / "model.pt")
    assert state["model"] == "flex_mt" and state["task"] == MULTITASK
    assert state["patch_sizes"] == {"sr": 32, "fc": 32} and state["coarsen_factor"] == 8
    assert set(model.task_encoders) == {"sr", "fc"}
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert [line.split(",")[:2] for line in history[1:]] == [
        ["2", "sr"], ["2", "fc"], ["4", "sr"], ["4", "fc"]]  # fmt: skip
    for task, channels in (("sr", 1), ("fc", 2)):
        x = torch.randn(1, channels, 32, 32)
        members = predict(for_task(model, task), MODEL_KINDS["flex_mt"], x, x[:, -1:],
                          torch.rand(1), [[1, 2]], 2, CosineLogSNR())  # fmt: skip
        assert members.shape == (1, 2, 1, 32, 32) and torch.isfinite(members).all()


def test_the_forecasting_u_net_s_task_encoder_drops_as_the_authors():
    """Their U-Net's forecasting task encoder alone has dropout 0.15; every other part of it,
    and the super-resolution U-Net, has the study's `dropout`."""
    from flex.train.run import model_config

    for task, expected in (("sr", STUDY.train.defaults.dropout), ("fc", 0.15)):
        model = build_model(model_config(tiny_job(model="unet", task=task)))
        task_rates = {m.p for m in model.task_encoder.modules() if isinstance(m, torch.nn.Dropout)}
        rest = {m.p for name, m in model.named_modules()
                if isinstance(m, torch.nn.Dropout) and not name.startswith("task_encoder.")}  # fmt: skip
        assert task_rates == {expected} and rest == {STUDY.train.defaults.dropout}
