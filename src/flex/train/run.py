"""The `train` stage: one (task, model) -> model.pt, history.csv, job.json.

Per optimiser step s (docs/method.md, "Training"): a batch of random patches of the training split
(examples seeded by (seed, epoch, index), epoch = s // validation_every), the objective of the
model (`objectives`), gradient clipping at `grad_clip`, the optimiser (Lion or AdamW) with linear
warm-up and cosine decay, and the EMA of the weights. Every `validation_every` steps the EMA
weights are scored on a fixed set of validation-split examples with fixed noise (loss, and the RFNE
of a 2-step sample against that of the trivial baseline, as the paper monitors); the best by
validation loss become `model.pt` at the end. A multi-task model (`flex_mt`) draws each example of
every task from the same snapshots (`flex.data.multitask`), trains on the mean of the tasks'
losses (`objectives.multitask_loss`), is scored on each task (one history row per task and
validation) and selected by the mean of the tasks' validation losses.

Every `execution.train.checkpoint_every` steps the whole state goes to `checkpoint.pt`
(atomically); a job killed at any moment and started again resumes there and, the randomness of
step s being seeded by s, ends with the same weights as an uninterrupted run (on the same device).
It resumes only state made by the same job, code and input data (`resume`). A non-finite loss stops
the job with the step and the settings to change.

The input files are given by the rule (fine and, for sr, coarse files of the training and
validation trajectories, and the statistics file); each file's own (Re, seed) attributes place it.
The checkpoint records the normalisation, the Reynolds scale, the coarsening factor and the
schedule, so that sampling needs nothing else.

Several processes (data parallel, `launch`): DistributedDataParallel over the job's `ranks`
processes (a training setting: the global batch is batch_size x ranks), one per GPU, rendezvous
from torchrun's environment or, with `ranks_from_slurm`, from that of Slurm's srun tasks. Rank r
of step s trains on examples [r B, (r + 1) B) of the step's global batch of ranks x B examples
and on the same rows of the global batch's noise, drawn alike on every rank; the gradients are
averaged and the logged loss is the global batch's: N ranks train as one rank with an N times
larger batch (to the order of floating-point sums; dropout masks are alike in distribution
only). Rank 0 validates with the global batch and writes.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from flex.config import TrainExecution, TrainJob, to_dict
from flex.data.examples import TaskExamples, split_files
from flex.data.multitask import MultiTaskExamples
from flex.data.splits import Trajectory
from flex.data.statistics import read_statistics
from flex.devices import torch_device
from flex.diffusion.predict import predict
from flex.diffusion.schedule import CosineLogSNR
from flex.errors import StageFailure
from flex.io.netcdf import atomic_output
from flex.kinds import INPUT_CHANNELS, MODEL_KINDS
from flex.models import ModelConfig, build_model, checkpoint, for_task, parameter_count, preset
from flex.models.config import TASK_DROPOUT
from flex.train.ema import EMA
from flex.train.launch import slurm_rendezvous
from flex.train.objectives import batch_loss, crps_settings
from flex.train.optim import learning_rate_factor, make_optimizer
from flex.train.resume import load_own, resume_key

log = logging.getLogger(__name__)

CHECKPOINT, BEST_CANDIDATE = "checkpoint.pt", "best_candidate.pt"
"""The files a job keeps for itself in its output directory (`flex.train.resume`)."""

HISTORY_COLUMNS = ("step", "task", "train_loss", "validation_loss", "validation_rfne",
                   "validation_member_rfne", "baseline_rfne", "learning_rate", "examples_per_s",
                   "elapsed_s")  # fmt: skip
MONITOR_STEPS = 2
"""DDIM steps of the validation samples (the paper's default for sampling)."""


class LossModule(torch.nn.Module):
    """The model with its objective, so that DistributedDataParallel sees one forward per step."""

    def __init__(self, model, kind, schedule, loss, shard=(0, 1), crps=None):
        super().__init__()
        self.model, self.kind, self.schedule, self.loss = model, kind, schedule, loss
        self.shard, self.crps = shard, crps

    def forward(self, batch, generator=None):
        return batch_loss(self.model, batch, self.kind, self.schedule, self.loss, generator,
                          self.shard, self.crps)  # fmt: skip


def _distributed(ranks_from_slurm: bool = False) -> tuple[int, int, int]:
    """(rank, ranks, local rank) of this process; joins the process group when ranks > 1."""
    if ranks_from_slurm:
        slurm_rendezvous(os.environ)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if world == 1:
        return 0, 1, 0
    return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def _global_mean(value: torch.Tensor, world: int) -> float:
    """The mean of `value` over the ranks (the loss of the global batch of equal parts), as a
    number outside the autograd graph."""
    value = value.detach()
    if world > 1:
        value = value.clone()
        dist.all_reduce(value)
        value /= world
    return float(value)


@dataclasses.dataclass(frozen=True)
class TrainFiles:
    """The job's inputs as the rule gives them (coarse files for super-resolution only)."""

    train_fine: list[Path]
    validation_fine: list[Path]
    statistics: Path
    train_coarse: list[Path] | None = None
    validation_coarse: list[Path] | None = None
    init_model: Path | None = None  # fine-tuning: the trained model the job starts from

    def all(self) -> list[Path]:
        lists = (self.train_fine, self.validation_fine, self.train_coarse or [],
                 self.validation_coarse or [], [self.init_model] if self.init_model else [])  # fmt: skip
        return [Path(p) for files in lists for p in files] + [Path(self.statistics)]


@dataclasses.dataclass(frozen=True)
class TrainOutputs:
    model: Path
    history: Path
    job: Path

    @property
    def directory(self) -> Path:
        """Where the job keeps checkpoint.pt and best_candidate.pt (beside model.pt)."""
        return Path(self.model).parent


def _examples(job: TrainJob, split: str, fine, coarse, seeds, normalisation, count: int,
              seed: int) -> TaskExamples | MultiTaskExamples:  # fmt: skip
    """Random examples of the job's task, or of every task of a multi-task job."""
    allowed = [Trajectory(float(re), int(s), split) for re in job.train_reynolds_numbers
               for s in seeds]  # fmt: skip
    files = split_files(split, fine, coarse if "sr" in job.tasks else None)
    parts = {task: TaskExamples(task, files, split, allowed, patch_size=job.patch(task),
                                normalisation=normalisation, reynolds_scale=job.reynolds_scale,
                                mode="train", examples_per_epoch=count, seed=seed,
                                boundaries=job.boundaries)
             for task in job.tasks}  # fmt: skip
    if MODEL_KINDS[job.model].multitask:
        return MultiTaskExamples(parts, count, seed)
    return parts[job.task]


def _to(batch: dict, device: torch.device) -> dict:
    """The batch (or a multi-task model's {task: batch}) on `device`."""
    return {k: _to(v, device) if isinstance(v, dict) else v.to(device, non_blocking=True)
            for k, v in batch.items()}  # fmt: skip


def _step_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    """The noise of step s (-1: validation), the same on every rank."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed * 1_000_003 + step * 1009)
    return generator


@torch.no_grad()
def score_validation(model, loader, kind, schedule, settings, device) -> dict[str, float]:
    """On fixed validation examples with fixed noise, with `model` (the EMA weights): the mean
    loss; the RFNE of the mean of `validation_members` members per example (MONITOR_STEPS DDIM
    steps), of the members themselves, and of the trivial baseline (the base: up-sampled input
    or last frame), each pooled over the examples: RFNE = sqrt(sum |x - y|^2 / sum |y|^2)."""
    generator = _step_generator(settings.seed, -1, device)
    members = settings.validation_members
    losses, mean_error, member_error, baseline, norm = [], 0.0, 0.0, 0.0, 0.0
    for index, batch in enumerate(loader):
        batch = _to(batch, device)
        losses.append(float(batch_loss(model, batch, kind, schedule, settings.loss, generator,
                                       crps=crps_settings(settings, kind))))  # fmt: skip
        size = len(batch["target"])
        seeds = [[settings.seed + ((index * size + i) * members + k) for k in range(members)]
                 for i in range(size)]  # fmt: skip
        ensemble = predict(model, kind, batch["input"], batch["base"], batch["reynolds"], seeds,
                           MONITOR_STEPS, schedule)  # (B, M, 1, H, W)  # fmt: skip
        target = batch["target"]
        mean_error += float(((ensemble.mean(dim=1) - target) ** 2).sum())
        member_error += float(((ensemble - target[:, None]) ** 2).sum()) / members
        baseline += float(((batch["base"] - target) ** 2).sum())
        norm += float((target**2).sum())
    return {"validation_loss": sum(losses) / len(losses),
            "validation_rfne": (mean_error / norm) ** 0.5,
            "validation_member_rfne": (member_error / norm) ** 0.5,
            "baseline_rfne": (baseline / norm) ** 0.5}  # fmt: skip


def model_config(job: TrainJob) -> ModelConfig:
    """The backbone `job` trains: its model's backbone at the size preset, for the task's input
    channels and the training patch (a multi-task model: for each task's input channels, at the
    largest patch)."""
    settings, kind = job.settings, MODEL_KINDS[job.model]
    if kind.multitask:
        return preset(kind.backbone, settings.model_size, 0, max(job.patch_sizes),
                      dropout=settings.dropout, tasks=job.tasks,
                      task_channels=tuple(INPUT_CHANNELS[t] for t in job.tasks))  # fmt: skip
    return preset(kind.backbone, settings.model_size, INPUT_CHANNELS[job.task], job.patch_sizes[0],
                  dropout=settings.dropout,
                  task_dropout=TASK_DROPOUT.get((kind.backbone, job.task)))  # fmt: skip


def start_from(model: torch.nn.Module, architecture: ModelConfig, path: Path,
               job: TrainJob) -> None:  # fmt: skip
    """Fine-tuning: load the weights of the trained model file `path` (its EMA weights, what
    sampling uses) into `model`; the optimiser and the EMA start afresh from them. The file's
    architecture must be the job's but for the dropouts (which have no weights)."""
    state = checkpoint.load(path)
    theirs = dataclasses.replace(checkpoint.model_config_of(state), dropout=architecture.dropout,
                                 task_dropout=architecture.task_dropout)  # fmt: skip
    if theirs != architecture:
        differ = [field.name for field in dataclasses.fields(ModelConfig)
                  if getattr(theirs, field.name) != getattr(architecture, field.name)]  # fmt: skip
        raise StageFailure(f"flex train {job.task}/{job.model}: init_from '{job.settings.init_from}'"
                           f" ({path}) has another architecture ({', '.join(differ)} differ); "
                           "allowed: a model of the same backbone, size, task and patch size")  # fmt: skip
    model.load_state_dict(state["weights"])
    log.info("starting from the weights of %s (%s, step %d)", path, state["model"], state["step"])


def validation_rows(model, loader, kind, schedule, settings, device,
                    tasks: tuple[str, ...]) -> list[dict[str, float | str]]:  # fmt: skip
    """`score_validation` of each task (one row each, with its `task`): of the model itself, or
    of a multi-task model's model of each task on its part of the batches."""
    if not kind.multitask:
        return [{"task": tasks[0], **score_validation(model, loader, kind, schedule, settings,
                                                      device)}]  # fmt: skip
    batches, task_kind = list(loader), dataclasses.replace(kind, multitask=False)
    return [{"task": task, **score_validation(for_task(model, task), [b[task] for b in batches],
                                              task_kind, schedule, settings, device)}
            for task in tasks]  # fmt: skip


def run(job: TrainJob, execution: TrainExecution, inputs: TrainFiles, outputs: TrainOutputs,
        progress: bool = True, ranks_from_slurm: bool = False) -> Path:  # fmt: skip
    """Train as one of the job's `ranks` processes (an error if the launcher started another
    number)."""
    settings, kind = job.settings, MODEL_KINDS[job.model]
    output_dir = outputs.directory
    output_dir.mkdir(parents=True, exist_ok=True)
    rank, world, local_rank = _distributed(ranks_from_slurm)
    if world != settings.ranks:
        raise StageFailure(
            f"flex train {job.task}/{job.model}: the job has ranks = {settings.ranks} "
            f"(train.defaults.ranks or its override), but {world} process(es) were started "
            "(WORLD_SIZE / SLURM_NTASKS): the train rule's `gpu` resource is the job's ranks; do "
            "not set it in the profile (multi-node: nodes x tasks_per_node = ranks)"
        )
    device = torch_device(execution.device, "execution.train.device", local_rank)
    torch.manual_seed(settings.seed)
    batch = settings.batch_size
    statistics = read_statistics(inputs.statistics)
    normalisation = statistics["vorticity"]
    train_set = _examples(job, "train", inputs.train_fine, inputs.train_coarse, job.train_seeds,
                          normalisation, batch * world * settings.validation_every,
                          settings.seed)  # fmt: skip
    validation_set = _examples(job, "validation", inputs.validation_fine,
                               inputs.validation_coarse, job.validation_seeds, normalisation,
                               batch * world * settings.validation_batches,
                               settings.seed + 1)  # fmt: skip
    architecture = model_config(job)
    model = build_model(architecture).to(device)
    if inputs.init_model is not None:
        start_from(model, architecture, inputs.init_model, job)
    ema = EMA(model, settings.ema_decay)
    optimizer = make_optimizer(model.parameters(), settings)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: learning_rate_factor(
            s, settings.warmup_steps, settings.steps, settings.lr_schedule
        ),
    )
    schedule = CosineLogSNR(shift=settings.logsnr_shift)
    objective = LossModule(model, kind, schedule, settings.loss, (rank, world),
                           crps_settings(settings, kind))  # fmt: skip
    if execution.compile:
        objective = torch.compile(objective)
    if world > 1:
        objective = torch.nn.parallel.DistributedDataParallel(objective)
    key = resume_key(job, inputs.all())
    resume_path, best_path = output_dir / CHECKPOINT, output_dir / BEST_CANDIDATE
    step, best, history = 0, float("inf"), []
    state = load_own(resume_path, key, device) if rank == 0 or world == 1 else None
    if world > 1:
        dist.barrier()  # rank 0 has removed what is not resumable
        state = load_own(resume_path, key, device) if rank else state
    if state is not None:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, best, history = state["step"], state["best_validation_loss"], state["history"]
        if rank == 0:
            log.info("resumed from %s at step %d", resume_path, step)
    elif rank == 0:
        best_path.unlink(missing_ok=True)  # belongs to a run that is not resumed
    metadata = {
        "task": job.task, "model": job.model, "normalisation": statistics,
        "reynolds_scale": job.reynolds_scale, "coarsen_factor": train_set.factor,
        "patch_sizes": dict(zip(job.tasks, job.patch_sizes, strict=True)),
        "logsnr_shift": settings.logsnr_shift,
        "job": to_dict(job), "execution": to_dict(execution), "resume_key": key,
        "parameters": parameter_count(model),
    }  # fmt: skip
    if rank == 0:
        log.info("%s/%s: %s %s, %.2fM parameters, %d steps of batch %d x %d on %s",
                 job.task, job.model, kind.backbone, settings.model_size,
                 metadata["parameters"] / 1e6, settings.steps, batch, world, device)  # fmt: skip
    validation_loader = torch.utils.data.DataLoader(validation_set, batch_size=batch * world)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16,
                              enabled=settings.precision == "bf16")  # fmt: skip
    bar = tqdm(total=settings.steps, initial=step, unit="step", disable=not progress or rank,
               desc=f"train {job.task}/{job.model}", mininterval=2.0)  # fmt: skip
    start, interval_losses, interval_start = time.perf_counter(), [], time.perf_counter()
    model.train()
    while step < settings.steps:
        epoch, offset = divmod(step, settings.validation_every)
        train_set.set_epoch(epoch)
        indices = [(o * world + rank) * batch + i
                   for o in range(offset, settings.validation_every) for i in range(batch)]  # fmt: skip
        loader = torch.utils.data.DataLoader(train_set, batch_size=batch, sampler=indices,
                                             num_workers=execution.num_workers)  # fmt: skip
        for examples in loader:
            torch.manual_seed(settings.seed * 1_000_003 + step)  # dropout of this step
            with autocast:
                loss = objective(_to(examples, device), _step_generator(settings.seed, step,
                                                                         device))  # fmt: skip
            global_loss = _global_mean(loss, world)
            if not math.isfinite(global_loss):
                raise StageFailure(
                    f"training {job.task}/{job.model} diverged: loss {global_loss:.3g} at step "
                    f"{step + 1}; lower train.defaults.learning_rate (now "
                    f"{settings.learning_rate:g}) or grad_clip ({settings.grad_clip:g}), or set "
                    f'it for this job under train.overrides["{job.task}/{job.model}"]'
                )  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            scheduler.step()
            ema.update(model)
            step += 1
            interval_losses.append(global_loss)
            bar.update()
            bar.set_postfix(loss=f"{interval_losses[-1]:.4f}", refresh=False)
            validate = step % settings.validation_every == 0 or step == settings.steps
            if validate and rank == 0:
                elapsed = time.perf_counter() - interval_start
                rows = validation_rows(ema.model, validation_loader, kind, schedule, settings,
                                       device, job.tasks)  # fmt: skip
                value = sum(row["validation_loss"] for row in rows) / len(rows)
                shared = {"step": step, "train_loss": sum(interval_losses) / len(interval_losses),
                          "learning_rate": scheduler.get_last_lr()[0],
                          "examples_per_s": len(interval_losses) * batch * world * len(job.tasks)
                          / elapsed, "elapsed_s": time.perf_counter() - start}  # fmt: skip
                history += [{**shared, **row} for row in rows]
                for row in rows:
                    bar.write(f"step {step} {row['task']}: train {shared['train_loss']:.4f}, "
                              f"validation {row['validation_loss']:.4f}, RFNE of the ensemble "
                              f"mean {row['validation_rfne']:.4f} (baseline "
                              f"{row['baseline_rfne']:.4f}), {shared['examples_per_s']:.1f} "
                              "examples/s")  # fmt: skip
                if value < best:
                    best = value
                    checkpoint.save(checkpoint.model_state(architecture, ema.state_dict(), {
                        **metadata, "step": step, "validation_loss": value}), best_path)  # fmt: skip
            if validate:
                interval_losses, interval_start = [], time.perf_counter()
            if rank == 0 and (step % execution.checkpoint_every == 0 or step == settings.steps):
                checkpoint.save({
                    "model": model.state_dict(), "ema": ema.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "step": step, "best_validation_loss": best, "history": history,
                    "resume_key": key,
                }, resume_path)  # fmt: skip
            if step >= settings.steps:
                break
    bar.close()
    if rank == 0:
        _finish(job, execution, outputs, best_path, key, history)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return outputs.model


def _finish(job: TrainJob, execution: TrainExecution, outputs: TrainOutputs, best_path: Path,
            key: str, history: list[dict]) -> None:  # fmt: skip
    """The declared outputs, each written atomically: model.pt, history.csv, job.json."""
    best = load_own(best_path, key, torch.device("cpu"))
    if best is None:
        raise StageFailure(f"{best_path} is missing or belongs to another run: delete "
                           f"{outputs.directory} and rerun the job")  # fmt: skip
    with atomic_output(outputs.history) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(history)
    with atomic_output(outputs.job) as tmp:
        record = {"job": to_dict(job), "execution": to_dict(execution), "resume_key": key}
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    # The candidate stays: a rerun of a finished job (same key) re-emits it.
    with atomic_output(outputs.model) as tmp:
        shutil.copyfile(best_path, tmp)
    log.info("wrote %s", outputs.model)
