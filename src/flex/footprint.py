"""What a study writes to disk, before anything runs: the jobs of each rule and the size of each
large output, from the study plan and the stages' own file layouts.

    sizes = output_sizes(plan)          # {path: bytes} for every large output of the plan
    rows = rule_rows(plan, sizes)       # per rule: jobs, total bytes, largest output
    flex plan config/paper.yaml         # the table, and a warning for each output over a bound

A size is the bytes of the arrays that grow with the study, laid out as the stage lays them out:

- simulate: the fields of the data contract (`flex.simulate.run.FIELD_ATTRS`), num_snapshots x
  grid^2 values at `simulate.dtype`, plus the time and the float64 diagnostics of each snapshot
  (the wall-bounded trajectories of `held_out_boundary` alike);
- coarsen: the same fields on the (grid / coarsen_factor)^2 grid, float32;
- train: the model file (the EMA weights, float32) and, beside it in the job's directory, the
  resumable state `checkpoint.pt` (weights, EMA and the optimizer's moments,
  `flex.train.optim.OPTIMIZER_MOMENTS`) and `best_candidate.pt` (EMA weights);
- sample: every variable of the sample file (`flex.sample.run.layout`) for S samples, S = the
  trajectory's evaluation patches (`flex.data.examples.evaluation_index`) up to `max_samples`;
- evaluate: the per-sample scores (`flex.evaluate.run.PER_SAMPLE`, and `FORECAST_ONLY` for
  forecasts), float64 over (sample[, lead]), and for a wall-bounded trajectory its int8
  `touches_wall` per sample.

Headers, attributes, coordinates, the per-wavenumber spectra and the small outputs (training
statistics, history, job record, summary, figures, tables: kilobytes to a few megabytes) are not
counted. Compressed simulation files (`simulate.compression`) are counted uncompressed, an upper
bound for them; every other size is a lower bound, within a few percent for large files
(tests/test_footprint.py compares it with the files of the tiny study).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from flex import paths
from flex.config import SampleJob, TrainJob
from flex.plan import ENTRY_MODULES, PlannedJob, StudyPlan

FLOAT64 = 8
"""Bytes of the float64 values that the time axis, diagnostics and scores are stored as."""

SHOWN = 5
"""Outputs over the bound named one by one (the rest are counted; --all lists them)."""

UNITS = ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"))


def human(size: float) -> str:
    """Bytes in decimal units, as `du --si` and cluster quotas give them: 75.5 GB."""
    for scale, unit in UNITS:
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size:.0f} B"


# -- one stage each --------------------------------------------------------------------------


def simulation_bytes(job: PlannedJob) -> dict[str, int]:
    from flex.simulate.run import FIELD_ATTRS, SERIES_ATTRS

    simulate = job.job.simulate
    snapshots, grid = simulate.num_snapshots, simulate.grid_size
    fields = len(FIELD_ATTRS) * snapshots * grid**2 * np.dtype(simulate.dtype).itemsize
    series = (1 + len(SERIES_ATTRS)) * snapshots * FLOAT64
    return {job.outputs[0]: fields + series}


def coarse_bytes(job: PlannedJob, study) -> dict[str, int]:
    from flex.coarsen.run import FIELDS

    coarse_grid = study.simulate.grid_size // job.job.coarsen.coarsen_factor
    snapshots = trajectory_snapshots(study, int(job.wildcards["seed"]))
    values = len(FIELDS) * snapshots * coarse_grid**2
    return {job.outputs[0]: values * np.dtype(np.float32).itemsize
            + snapshots * FLOAT64}  # fmt: skip


def trajectory_snapshots(study, seed: int) -> int:
    """Snapshots of a trajectory of `seed` (seeds are disjoint across splits): the training
    count for a training seed, the evaluation count otherwise."""
    return study.simulate.snapshots("train" if seed in study.seeds.train else "test")


def model_parameters(job: TrainJob) -> int:
    """Parameters of the network a training job trains (built on the meta device: no memory)."""
    import torch

    from flex.models import build_model, parameter_count
    from flex.train.run import model_config

    with torch.device("meta"):
        return parameter_count(build_model(model_config(job)))


def training_bytes(job: PlannedJob) -> dict[str, int]:
    from flex.train.optim import OPTIMIZER_MOMENTS

    train: TrainJob = job.job
    weights = model_parameters(train) * np.dtype(np.float32).itemsize
    moments = OPTIMIZER_MOMENTS[train.settings.optimizer]
    checkpoint, best = _kept_files(job)
    return {job.outputs[0]: weights, checkpoint: (2 + moments) * weights, best: weights}


def _kept_files(job: PlannedJob) -> tuple[str, str]:
    """The resumable state and best weights a training job keeps beside its model file."""
    from flex.train.run import BEST_CANDIDATE, CHECKPOINT

    directory = paths.train_file(paths.TRAIN_DIRECTORY, job.wildcards["task"],
                                 job.wildcards["model"])  # fmt: skip
    return f"{directory}/{CHECKPOINT}", f"{directory}/{BEST_CANDIDATE}"


def sample_count(sample: SampleJob, study) -> int:
    """Evaluation patches the sample job draws from its trajectory (at most `max_samples`)."""
    from flex.data.examples import evaluation_index
    from flex.sample.run import evaluation_indices

    patches = evaluation_index(sample.task, [trajectory_snapshots(study, sample.seed)],
                               study.simulate.grid_size, study.data.patch(sample.task),
                               sample.evaluation_snapshot_stride, sample.horizon)  # fmt: skip
    return len(evaluation_indices(len(patches), sample.max_samples))


def members(sample: SampleJob) -> int:
    return sample.ensemble.ensemble_size if sample.ensemble is not None else 1


def sample_bytes(job: PlannedJob, study) -> dict[str, int]:
    from flex.sample.run import layout

    sample: SampleJob = job.job
    count = sample_count(sample, study)
    sizes, variables, _ = layout(sample, members(sample), study.data.patch(sample.task), 1.0)
    total = 0
    for shape, dtype, _ in variables.values():
        values = math.prod(count if name == "sample" else sizes[name] for name in shape)
        total += values * np.dtype(dtype).itemsize
    return {job.outputs[0]: total}


def evaluation_bytes(job: PlannedJob, plan: StudyPlan) -> dict[str, int]:
    from flex.evaluate.run import FORECAST_ONLY, PER_SAMPLE

    sample: SampleJob = plan.job("sample", job.wildcards).job
    scores = len(PER_SAMPLE) + (len(FORECAST_ONLY) if sample.task == "fc" else 0)
    count = sample_count(sample, plan.study)
    walls = count if sample.boundary != "periodic" else 0  # the int8 flag `touches_wall`
    return {job.outputs[0]: scores * count * sample.horizon * FLOAT64 + walls}


def output_sizes(plan: StudyPlan) -> dict[str, int]:
    """Bytes of every large output of the plan (the module docstring says what is counted)."""
    study, sizes = plan.study, {}
    for job in plan.jobs("simulate") + plan.jobs("simulate_boundary"):
        sizes.update(simulation_bytes(job))
    for job in plan.jobs("coarsen") + plan.jobs("coarsen_boundary"):
        sizes.update(coarse_bytes(job, study))
    for job in plan.jobs("train"):
        sizes.update(training_bytes(job))
    for job in plan.jobs("sample"):
        sizes.update(sample_bytes(job, study))
    for job in plan.jobs("evaluate"):
        sizes.update(evaluation_bytes(job, plan))
    return sizes


# -- the table -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RuleRow:
    """One rule of a study: its jobs, the bytes of their counted outputs, the largest output."""

    rule: str
    jobs: int
    total: int
    largest: str | None
    largest_size: int


def rule_rows(plan: StudyPlan, sizes: Mapping[str, int]) -> list[RuleRow]:
    rows = []
    for rule in ENTRY_MODULES:
        jobs = plan.jobs(rule)
        owned = {path: sizes[path] for job in jobs for path in _job_paths(job) if path in sizes}
        largest = max(owned, key=owned.get) if owned else None
        rows.append(RuleRow(rule, len(jobs), sum(owned.values()), largest,
                            owned[largest] if largest else 0))  # fmt: skip
    return rows


def _job_paths(job: PlannedJob) -> list[str]:
    """A job's outputs, and for training the state it keeps beside them."""
    return [*job.outputs, *(_kept_files(job) if job.rule == "train" else ())]


def markdown_table(rows: list[RuleRow]) -> str:
    lines = ["| rule | jobs | on disk | largest output | its size |", "|---|---|---|---|---|"]
    for row in rows:
        counted = row.largest is not None
        lines.append(f"| {row.rule} | {row.jobs} | {human(row.total) if counted else 'small'} | "
                     f"{row.largest or '--'} | {human(row.largest_size) if counted else '--'} |")  # fmt: skip
    total = sum(row.total for row in rows)
    lines.append(f"| all | {sum(row.jobs for row in rows)} | {human(total)} | | |")
    return "\n".join(lines)


def over_bound(sizes: Mapping[str, int], bound: float) -> list[str]:
    """Outputs larger than `bound` bytes, largest first."""
    return sorted((path for path, size in sizes.items() if size > bound), key=lambda p: -sizes[p])


def main(argv: list[str] | None = None) -> int:
    from flex.command import run_stage
    from flex.config.load import DEFAULT_STUDY, SCHEMA, load_study_file

    parser = argparse.ArgumentParser(
        prog="flex plan",
        description="the jobs of each rule of a study and the size of its outputs on disk, "
        "before anything runs (see `flex.footprint` for what is counted)",
    )  # fmt: skip
    parser.add_argument("config", type=Path, help="a study configuration, e.g. config/paper.yaml")
    parser.add_argument("--bound-gb", type=float, default=100.0,
                        help="warn for every output larger than this (GB, 1e9 bytes)")  # fmt: skip
    parser.add_argument("--all", action="store_true", help="list every counted output")
    parser.add_argument("--schema", type=Path, default=SCHEMA)
    parser.add_argument("--default", type=Path, default=DEFAULT_STUDY,
                        help="the study the file is merged over (Snakemake's configfile)")  # fmt: skip

    def handler(args) -> None:
        study, _ = load_study_file(args.config, args.schema, args.default)
        plan = StudyPlan(study)
        sizes = output_sizes(plan)
        print(f"{args.config} ({study.study.name}): jobs and outputs on disk\n")
        print(markdown_table(rule_rows(plan, sizes)))
        if args.all:
            print()
            for path in sorted(sizes):
                print(f"{human(sizes[path]):>10}  {path}")
        large = over_bound(sizes, args.bound_gb * 1e9)
        print()
        if not large:
            print(f"no output over {args.bound_gb:g} GB")
        for path in large[:SHOWN] if not args.all else large:
            print(f"warning: {path} would be {human(sizes[path])}, over {args.bound_gb:g} GB "
                  "(--bound-gb)")  # fmt: skip
        if large:
            more = len(large) - SHOWN if not args.all and len(large) > SHOWN else 0
            print((f"... and {more} more (--all lists them); " if more else "")
                  + f"{len(large)} output(s) over {args.bound_gb:g} GB: lower sample.max_samples, "
                  "ensemble_size or horizon, simulate.num_snapshots or grid_size, or "
                  "train.defaults.model_size")  # fmt: skip

    return run_stage(parser, handler, argv)
