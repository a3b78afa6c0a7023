"""The `sample` stage: one model on one test trajectory -> results/sample/.../re{re}_seed{seed}.nc.

One job per (task, model, test trajectory[, variable][, steps]). The evaluation patches of the
trajectory (non-overlapping tiles of every `data.evaluation_snapshot_stride`-th snapshot; at most
`max_samples`, evenly spread) go through the model in batches of `execution.sample.batch_size`
inputs x `ensemble_size` members (`flex.diffusion.predict`; forecasts by `rollout.rollout`, with
mean and member feedback). A trained model's patch size, normalisation, Reynolds scale, coarsening
factor and schedule come from its checkpoint, never from the live configuration. Trivial
baselines write the same format with one member: `bicubic` (the up-sampled input) and
`persistence` (frame t at every lead); both are linear, so they work in physical units. Values are
stored in physical units. Each member's noise seed is derived from (seed, trajectory seed, sample,
member, lead) and recorded in `noise_seed`; the file's attributes say its task, model, variable,
study, split and boundary. A wall-bounded test trajectory (the zero-shot test of held-out
boundaries) is sampled the same way: its patches tile the box without wrapping, and
`touches_wall` marks those that reach a wall.
"""

from __future__ import annotations

import logging
from pathlib import Path

import netCDF4
import numpy as np
import torch
from tqdm import tqdm

from flex import dims
from flex.config import SampleExecution, SampleJob, to_dict
from flex.data.examples import TaskExamples, split_files
from flex.data.splits import Trajectory
from flex.devices import torch_device
from flex.diffusion.predict import predict
from flex.diffusion.schedule import CosineLogSNR
from flex.errors import StageFailure
from flex.io.netcdf import RecordWriter, reading
from flex.io.provenance import provenance_attrs
from flex.kinds import MODEL_KINDS, TRIVIAL
from flex.models import for_task
from flex.models.checkpoint import load_model
from flex.sample.rollout import rollout

log = logging.getLogger(__name__)


def evaluation_indices(count: int, limit: int | None) -> list[int]:
    """All indices, or `limit` of them spread evenly over 0 .. count-1."""
    if limit is None or limit >= count:
        return list(range(count))
    return sorted({int(i) for i in np.rint(np.linspace(0, count - 1, limit))})


def noise_seed(base: int, trajectory_seed: int, sample: int, member: int, lead: int) -> int:
    sequence = np.random.SeedSequence([base, trajectory_seed, sample, member, lead])
    return int(sequence.generate_state(1)[0])


def _collate(examples: TaskExamples, indices: list[int]) -> dict[str, torch.Tensor]:
    items = [examples[i] for i in indices]
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def layout(job: SampleJob, members: int, size: int, spacing: float):
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
        "touches_wall": ((dims.SAMPLE,), "i1", {"units": "1", "long_name":
                         "1 if the patch reaches a no-slip wall (first or last row), else 0"}),
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
        sizes[dims.LEAD] = job.horizon
        coords[dims.LEAD] = (np.arange(1, job.horizon + 1),
                             {"units": "1", "long_name": "lead (save intervals ahead)"})  # fmt: skip
    return sizes, variables, coords


class _Model:
    """The network and what sampling needs of it; `net` is None for a trivial baseline."""

    def __init__(self, job: SampleJob, model_path: Path | None, device: torch.device) -> None:
        self.net, self.kind, self.schedule, self.members = None, None, None, 1
        if job.model == TRIVIAL[job.task]:
            self.normalisation, self.reynolds_scale = (0.0, 1.0), 1.0
            self.patch_size, self.coarsen_factor = job.patch_size, None
            return
        if model_path is None:
            raise StageFailure(f"model {job.model} needs its model file (--model)")
        net, state = load_model(model_path, device)
        if job.task not in state["patch_sizes"] or state["model"] != job.model:
            raise StageFailure(f"{model_path} holds {state['model']} for the tasks "
                               f"{sorted(state['patch_sizes'])}, not {job.task}/{job.model}")  # fmt: skip
        self.net = for_task(net, job.task)
        self.kind = MODEL_KINDS[state["model"]]
        self.normalisation = tuple(state["normalisation"][job.variable])
        self.reynolds_scale = state["reynolds_scale"]
        self.patch_size = state["patch_sizes"][job.task]
        self.coarsen_factor = state["coarsen_factor"] if job.task == "sr" else None
        self.schedule = CosineLogSNR(shift=state["logsnr_shift"])
        if self.kind.diffusion:
            if job.ensemble is None:
                raise StageFailure(f"{job.task}/{job.model} is a diffusion model: its job needs "
                                   "the ensemble settings (steps, members, seed)")  # fmt: skip
            self.members = job.ensemble.ensemble_size


def file_geometry(path: Path) -> tuple[str, int]:
    """The boundary a simulation or coarse file records (files without one are periodic), and
    its number of rows."""
    with reading(path), netCDF4.Dataset(path) as ds:
        return str(getattr(ds, "boundary", "periodic")), ds.dimensions[dims.Y].size


def touches_wall(boundary: str, corner_y: np.ndarray, patch: int, grid: int) -> np.ndarray:
    """Whether each patch (rows corner_y .. corner_y + patch - 1) holds a wall's first or last
    row; never in the periodic box."""
    if boundary == "periodic":
        return np.zeros(len(corner_y), dtype=np.int8)
    return ((corner_y == 0) | (corner_y + patch >= grid)).astype(np.int8)


def run(job: SampleJob, execution: SampleExecution, fine: str | Path, coarse: str | Path | None,
        model_path: str | Path | None, output: str | Path, progress: bool = True) -> Path:  # fmt: skip
    geometries = {path: file_geometry(Path(path))
                  for path in [fine, *([coarse] if job.task == "sr" and coarse else [])]}  # fmt: skip
    for path, (boundary, _) in geometries.items():
        if boundary != job.boundary:
            raise StageFailure(f"{path} is a {boundary} trajectory; the job samples a "
                               f"{job.boundary} one")  # fmt: skip
    rows = geometries[fine][1]
    device = torch_device(execution.device, "execution.sample.device")
    model = _Model(job, Path(model_path) if model_path else None, device)
    trajectory = Trajectory(job.reynolds_number, job.seed, "test", job.held_out)
    held_out = [job.reynolds_number] if job.held_out else []
    files = split_files("test", [Path(fine)], [Path(coarse)] if job.task == "sr" else None,
                        held_out)  # fmt: skip
    examples = TaskExamples(job.task, files, "test", [trajectory], patch_size=model.patch_size,
                            normalisation=model.normalisation,
                            reynolds_scale=model.reynolds_scale, mode="evaluate",
                            evaluation_stride=job.evaluation_snapshot_stride,
                            variable=job.variable, horizon=job.horizon)  # fmt: skip
    if model.coarsen_factor not in (None, examples.factor):
        raise StageFailure(f"{model_path} was trained on x{model.coarsen_factor} coarse fields, "
                           f"{coarse} is x{examples.factor}: rerun its training")  # fmt: skip
    indices = evaluation_indices(len(examples), job.max_samples)
    if not indices:
        raise StageFailure(f"no evaluation patch in {fine}: the trajectory is too short for "
                           f"horizon {job.horizon}")  # fmt: skip
    mean, std = model.normalisation
    members, leads = model.members, job.horizon
    sizes, variables, coords = layout(job, members, model.patch_size, grid_spacing(Path(fine)))
    noise_base = job.ensemble.seed if job.ensemble else 0
    bar = tqdm(total=len(indices) * members, unit="member", disable=not progress, mininterval=2.0,
               desc=f"sample {job.task}/{job.model} Re={job.reynolds_number:g}")  # fmt: skip
    with RecordWriter(output, dims.SAMPLE, sizes, variables, coords) as writer, bar:
        for start in range(0, len(indices), execution.batch_size):
            chosen = indices[start : start + execution.batch_size]
            batch = {k: v.to(device) for k, v in _collate(examples, chosen).items()}
            seeds = [[[noise_seed(noise_base, job.seed, i, k, lead) for lead in range(leads)]
                      for k in range(members)] for i in chosen]  # fmt: skip
            records = _predict(job, model, batch, seeds)
            to_physical = {name: (value.cpu().numpy() * std + mean).astype(np.float32)
                           for name, value in records.items()}  # fmt: skip
            if job.task == "sr":
                to_physical["prediction"] = to_physical["prediction"][:, :, 0]  # (B, M, y, x)
                to_physical["target"] = to_physical["target"][:, 0]
            to_physical["base"] = to_physical["base"][:, 0]
            corner_y = batch["corner"][:, 0].cpu().numpy()
            writer.append({
                **to_physical,
                "noise_seed": np.asarray(seeds, dtype=np.uint64).reshape(
                    len(chosen), members, *((leads,) if job.task == "fc" else ())),
                "time_index": batch["time_index"].cpu().numpy(),
                "corner_y": corner_y,
                "corner_x": batch["corner"][:, 1].cpu().numpy(),
                "touches_wall": touches_wall(job.boundary, corner_y, model.patch_size, rows),
            })  # fmt: skip
            bar.update(len(chosen) * members)
        diffusion = model.kind is not None and model.kind.diffusion
        writer.finish(provenance_attrs(
            title=f"{job.task} ensembles of {job.model} ({job.variable}), Re={job.reynolds_number:g}, "
            f"seed={job.seed}", stage_config=to_dict(job), execution=to_dict(execution),
            task=job.task, model=job.model, variable=job.variable, study=job.study,
            reynolds_number=float(job.reynolds_number), seed=job.seed, split=job.split,
            held_out=job.held_out, boundary=job.boundary,
            sampling_steps=job.ensemble.sampling_steps if diffusion else 0,
            eta=job.ensemble.eta if diffusion else 0.0,
            ensemble_size=members, normalisation_mean=mean, normalisation_std=std,
            model_file=str(model_path or ""),
        ))  # fmt: skip
    log.info("wrote %s (%d samples x %d members)", output, len(indices), members)
    return Path(output)


def _predict(job: SampleJob, model: _Model, batch, seeds) -> dict[str, torch.Tensor]:
    """Normalised predictions of one batch, and what the file stores beside them."""
    net, kind, schedule, leads = model.net, model.kind, model.schedule, job.horizon
    steps = job.ensemble.sampling_steps if job.ensemble else 1
    eta = job.ensemble.eta if job.ensemble else 0.0
    out = {"target": batch["target"], "input": batch["input"], "base": batch["base"]}
    if job.task == "sr":
        if net is None:
            out["prediction"] = batch["base"][:, None]  # (B, 1, 1, y, x)
        else:
            member_seeds = [[s[0] for s in per_member] for per_member in seeds]
            out["prediction"] = predict(net, kind, batch["input"], batch["base"], batch["reynolds"],
                                        member_seeds, steps, schedule, eta=eta)  # fmt: skip
        return out
    if net is None:
        persistence = batch["base"].expand(-1, leads, -1, -1)[:, None]  # (B, 1, L, y, x)
        out["prediction"] = out["prediction_member_feedback"] = persistence
        return out
    for feedback, name in (("mean", "prediction"), ("member", "prediction_member_feedback")):
        out[name] = rollout(net, kind, batch["input"], batch["reynolds"], seeds, steps, schedule,
                            feedback, eta)  # fmt: skip
    return out


def grid_spacing(path: Path) -> float:
    """Grid spacing of a simulation file (its x coordinate step)."""
    with reading(path), netCDF4.Dataset(path) as ds:
        x = ds["x"][:2]
    return float(x[1] - x[0])
