"""The `sample` stage: results/sample/{task}/{model}/re{re}_seed{seed}.nc (and `_u`, `_v` for the
zero-shot velocity runs of super-resolution models).

One job per (task, model, test trajectory[, variable]). The evaluation patches of the trajectory
(non-overlapping tiles of every `data.evaluation_snapshot_stride`-th snapshot; at most
`sample.max_samples`, evenly spread) go through the model in batches of `sample.batch_size`
inputs x `sample.ensemble_size` members (`ensemble.predict`; forecasts by `rollout.rollout`, with
mean and member feedback). Trivial baselines write the same format with one member: `bicubic`
(the up-sampled input) and `persistence` (frame t at every lead). Values are in physical units.
Each member's noise seed is derived from (sample.seed, trajectory seed, sample, member, lead) and
recorded in `noise_seed`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import netCDF4
import numpy as np
import torch
from tqdm import tqdm

from flex import dims, paths
from flex.config import SampleJob, to_dict
from flex.data.examples import TaskExamples, TrajectoryFiles
from flex.data.splits import Trajectory
from flex.data.statistics import read_statistics
from flex.diffusion.schedule import CosineLogSNR
from flex.io.netcdf import RecordWriter
from flex.io.provenance import provenance_attrs
from flex.sample.ensemble import predict
from flex.sample.rollout import rollout
from flex.train.checkpoint import load_model
from flex.train.objectives import MODEL_KINDS

log = logging.getLogger(__name__)

TRIVIAL = {"sr": "bicubic", "fc": "persistence"}
"""The baseline of each task that needs no training."""


def evaluation_indices(count: int, limit: int | None) -> list[int]:
    """All indices, or `limit` of them spread evenly over 0 .. count-1."""
    if limit is None or limit >= count:
        return list(range(count))
    return sorted({int(i) for i in np.rint(np.linspace(0, count - 1, limit))})


def noise_seed(base: int, trajectory_seed: int, sample: int, member: int, lead: int) -> int:
    sequence = np.random.SeedSequence([base, trajectory_seed, sample, member, lead])
    return int(sequence.generate_state(1)[0])


def _device(setting: str) -> torch.device:
    use_cuda = setting == "cuda" or (setting == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if use_cuda else "cpu")


def _collate(examples: TaskExamples, indices: list[int]) -> dict[str, torch.Tensor]:
    items = [examples[i] for i in indices]
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def _layout(job: SampleJob, members: int, size: int, spacing: float):
    """Dimensions and variables of the sample file."""
    fc = job.task == "fc"
    lead = (dims.LEAD,) if fc else ()
    field = {"units": "1", "long_name": f"{job.variable}"}
    variables = {
        "prediction": ((dims.SAMPLE, dims.MEMBER, *lead, dims.Y, dims.X), "f4",
                       {**field, "long_name": f"predicted {job.variable} (ensemble member)"}),
        "target": ((dims.SAMPLE, *lead, dims.Y, dims.X), "f4",
                   {**field, "long_name": f"true {job.variable}"}),
        "input": ((dims.SAMPLE, "channel", dims.Y, dims.X), "f4", {**field, "long_name":
                  "conditioning input: up-sampled coarse field (sr) or frames t-1, t (fc)"}),
        "base": ((dims.SAMPLE, dims.Y, dims.X), "f4", {**field, "long_name":
                 "base the residual is added to: up-sampled input (sr) or frame t (fc)"}),
        "noise_seed": ((dims.SAMPLE, dims.MEMBER, *lead), "u8",
                       {"units": "1", "long_name": "seed of each member's initial noise"}),
        "time_index": ((dims.SAMPLE,), "i4", {"units": "1", "long_name": "snapshot index t"}),
        "corner_y": ((dims.SAMPLE,), "i4", {"units": "1", "long_name": "patch row offset"}),
        "corner_x": ((dims.SAMPLE,), "i4", {"units": "1", "long_name": "patch column offset"}),
    }  # fmt: skip
    if fc:
        variables["prediction_member_feedback"] = (
            variables["prediction"][0], "f4",
            {**field, "long_name": f"predicted {job.variable}, each member fed its own history"},
        )  # fmt: skip
    sizes = {dims.MEMBER: members, dims.Y: size, dims.X: size, "channel": 2 if fc else 1}
    coords = {
        dims.Y: (np.arange(size) * spacing, {"units": "1", "axis": "Y", "long_name": "y in patch"}),
        dims.X: (np.arange(size) * spacing, {"units": "1", "axis": "X", "long_name": "x in patch"}),
        dims.MEMBER: (np.arange(members), {"units": "1", "long_name": "ensemble member"}),
    }
    if fc:
        sizes[dims.LEAD] = job.sample.horizon
        coords[dims.LEAD] = (np.arange(1, job.sample.horizon + 1),
                             {"units": "1", "long_name": "lead (save intervals ahead)"})  # fmt: skip
    return sizes, variables, coords


def run(job: SampleJob, results: str | Path, model_path: str | Path | None, output: str | Path,
        progress: bool = True) -> Path:  # fmt: skip
    results, sample = Path(results), job.sample
    device = _device(sample.device)
    statistics = read_statistics(paths.statistics_file(results))
    mean, std = statistics[job.variable]
    trajectory = Trajectory(job.reynolds_number, job.seed, "test", job.held_out)
    files = TrajectoryFiles(trajectory, paths.simulation_file(job.reynolds_number, job.seed, results),
                            paths.coarse_file(job.reynolds_number, job.seed, results))  # fmt: skip
    horizon = sample.horizon if job.task == "fc" else 1
    examples = TaskExamples(job.task, [files], "test", statistics, job.data, job.coarsen_factor,
                            [trajectory], mode="evaluate", variable=job.variable,
                            horizon=horizon)  # fmt: skip
    indices = evaluation_indices(len(examples), sample.max_samples)
    trivial = job.model == TRIVIAL[job.task]
    if trivial:
        net, kind, members = None, None, 1
    else:
        net, state = load_model(model_path, device)
        kind = MODEL_KINDS[state["model"]]
        members = sample.ensemble_size if kind.diffusion else 1
    schedule = CosineLogSNR(shift=state["job"]["settings"]["logsnr_shift"]) if net else None
    spacing = grid_spacing(files.fine)
    sizes, variables, coords = _layout(job, members, job.data.patch_size, spacing)
    leads = horizon if job.task == "fc" else 1
    bar = tqdm(total=len(indices) * members, unit="member", disable=not progress, mininterval=2.0,
               desc=f"sample {job.task}/{job.model} Re={job.reynolds_number:g}")  # fmt: skip
    with RecordWriter(output, dims.SAMPLE, sizes, variables, coords) as writer, bar:
        for start in range(0, len(indices), sample.batch_size):
            chosen = indices[start : start + sample.batch_size]
            batch = {k: v.to(device) for k, v in _collate(examples, chosen).items()}
            seeds = [[[noise_seed(sample.seed, job.seed, i, k, lead) for lead in range(leads)]
                      for k in range(members)] for i in chosen]  # fmt: skip
            records = _predict(job, net, kind, batch, seeds, schedule, members, leads)
            to_physical = {name: (value.cpu().numpy() * std + mean).astype(np.float32)
                           for name, value in records.items()}  # fmt: skip
            if job.task == "sr":
                to_physical["prediction"] = to_physical["prediction"][:, :, 0]  # (B, M, y, x)
                to_physical["target"] = to_physical["target"][:, 0]
            to_physical["base"] = to_physical["base"][:, 0]
            writer.append({
                **to_physical,
                "noise_seed": np.asarray(seeds, dtype=np.uint64).reshape(
                    len(chosen), members, *((leads,) if job.task == "fc" else ())),
                "time_index": batch["time_index"].cpu().numpy(),
                "corner_y": batch["corner"][:, 0].cpu().numpy(),
                "corner_x": batch["corner"][:, 1].cpu().numpy(),
            })  # fmt: skip
            bar.update(len(chosen) * members)
        writer.finish(provenance_attrs(
            title=f"{job.task} ensembles of {job.model} ({job.variable}), Re={job.reynolds_number:g}, "
            f"seed={job.seed}", stage_config=to_dict(job), task=job.task, model=job.model,
            variable=job.variable, reynolds_number=float(job.reynolds_number), seed=job.seed,
            split="held_out" if job.held_out else "in_distribution", held_out=job.held_out,
            sampling_steps=sample.sampling_steps if net is not None and kind.diffusion else 0,
            ensemble_size=members, normalisation_mean=mean, normalisation_std=std,
            model_file=str(model_path or ""),
        ))  # fmt: skip
    log.info("wrote %s (%d samples x %d members)", output, len(indices), members)
    return Path(output)


def _predict(job, net, kind, batch, seeds, schedule, members, leads) -> dict[str, torch.Tensor]:
    """Normalised predictions of one batch, and what the file stores beside them."""
    steps = job.sample.sampling_steps
    out = {"target": batch["target"], "input": batch["input"], "base": batch["base"]}
    if job.task == "sr":
        if net is None:
            out["prediction"] = batch["base"][:, None]  # (B, 1, 1, y, x)
        else:
            member_seeds = [[s[0] for s in per_member] for per_member in seeds]
            out["prediction"] = predict(net, kind, batch["input"], batch["base"], batch["reynolds"],
                                        member_seeds, steps, schedule)  # fmt: skip
        return out
    if net is None:
        persistence = batch["base"].expand(-1, leads, -1, -1)[:, None]  # (B, 1, L, y, x)
        out["prediction"] = out["prediction_member_feedback"] = persistence
        return out
    for feedback, name in (("mean", "prediction"), ("member", "prediction_member_feedback")):
        out[name] = rollout(net, kind, batch["input"], batch["reynolds"], seeds, steps, schedule,
                            feedback)  # fmt: skip
    return out


def grid_spacing(path: Path) -> float:
    """Grid spacing of a simulation file (its x coordinate step)."""
    with netCDF4.Dataset(path) as ds:
        x = ds["x"][:2]
    return float(x[1] - x[0])
