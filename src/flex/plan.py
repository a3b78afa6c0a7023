"""The study plan: every job a configuration implies, its input and output paths, and its
parameters: exactly the settings its code reads that change its output.

    plan = StudyPlan(study)                     # study: StudyConfiguration (flex.config.load)
    plan.jobs("train")                          # the planned jobs of one rule
    plan.job("sample", {"name": "sr/flex/re40_seed13"})   # by the wildcards of its outputs
    plan.targets()                              # what `snakemake` builds by default

The workflow (`workflow/rules/*.smk`) is a thin adapter over this module: its input functions
and params call the plan, so which jobs exist and what reruns them is decided here, once, and
unit-tested without Snakemake. Each job receives its parameters as JSON (`PlannedJob.params`), the
execution settings of its stage separately (`execution`, not a rerun trigger) and the digest of
the sources its entry module imports (`code`, see `flex.sources`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from flex import paths, sources
from flex.config import (
    CoarsenJob,
    EnsembleSettings,
    FiguresJob,
    SampleJob,
    SimulationJob,
    StatisticsJob,
    StudyConfiguration,
    TrainJob,
    TrainSettings,
    to_dict,
)
from flex.config.checks import wall_training_reynolds_numbers
from flex.data.splits import Trajectory, all_trajectories, trajectories
from flex.figures import catalogue
from flex.kinds import (
    MODEL_KINDS,
    MULTITASK,
    STEPS_STUDY_MODELS,
    TASKS,
    TRIVIAL,
    ZERO_SHOT_MODELS,
    training_task,
)

ENTRY_MODULES = {
    "simulate": "flex.simulate.__main__",
    "simulate_boundary": "flex.simulate.__main__",
    "coarsen": "flex.coarsen.__main__",
    "coarsen_boundary": "flex.coarsen.__main__",
    "training_statistics": "flex.statistics.__main__",
    "train": "flex.train.__main__",
    "sample": "flex.sample.__main__",
    "evaluate": "flex.evaluate.__main__",
    "summary": "flex.summary.__main__",
    "figures": "flex.figures.__main__",
}
"""The module each rule runs (`python -m ...`): the rules' commands and code digests use it."""

EXECUTION_SECTIONS = {"simulate": "simulate", "simulate_boundary": "simulate",
                      "coarsen": "coarsen", "coarsen_boundary": "coarsen",
                      "training_statistics": "coarsen", "train": "train", "sample": "sample",
                      "evaluate": "evaluate"}  # fmt: skip
"""Which section of `execution` a rule's jobs run with (rules not listed have none)."""


@dataclasses.dataclass(frozen=True, eq=False)
class PlannedJob:
    """One job: its rule, the wildcards of its outputs, its named inputs, its outputs and its
    parameters (a job dataclass of `flex.config.jobs`, or None for a job with none)."""

    rule: str
    wildcards: Mapping[str, str]
    inputs: Mapping[str, str | list[str]]
    outputs: tuple[str, ...]
    job: Any = None

    @property
    def params(self) -> str:
        """The job's parameters as canonical JSON (what Snakemake compares to rerun)."""
        return "" if self.job is None else json.dumps(to_dict(self.job), sort_keys=True)


def _key(rule: str, wildcards: Mapping[str, str]) -> tuple[str, frozenset]:
    return rule, frozenset((str(k), str(v)) for k, v in wildcards.items())


class StudyPlan:
    """All jobs of one study (see the module docstring)."""

    def __init__(self, study: StudyConfiguration) -> None:
        self.study = study
        self.tasks, self.models = study.train.tasks, study.train.models
        self._jobs: dict[str, list[PlannedJob]] = {rule: [] for rule in ENTRY_MODULES}
        self._index: dict[tuple[str, frozenset], PlannedJob] = {}
        self._plan_data()
        self._plan_training()
        self._plan_sampling()
        self._plan_outputs()

    # -- lookup ------------------------------------------------------------------------------

    def jobs(self, rule: str) -> list[PlannedJob]:
        return list(self._jobs[rule])

    def job(self, rule: str, wildcards: Mapping[str, str]) -> PlannedJob:
        try:
            return self._index[_key(rule, wildcards)]
        except KeyError:
            wanted = ", ".join(f"{k}={v}" for k, v in wildcards.items())
            raise KeyError(
                f"rule {rule} has no job with {wanted} in this study; the study's jobs come from "
                "its configuration (train.tasks, train.models, reynolds_numbers, seeds, sample)"
            ) from None

    def targets(self) -> list[str]:
        """The study's final products: trained models, the summary, the figures and tables."""
        finals = [job.outputs[0] for job in self._jobs["train"]]
        for rule in ("summary", "figures"):
            finals += [path for job in self._jobs[rule] for path in job.outputs]
        return finals

    @staticmethod
    def code(rule: str) -> str:
        """Digest of the sources the rule's entry module imports (`flex.sources`)."""
        return sources.digest(ENTRY_MODULES[rule])

    def execution(self, rule: str) -> str:
        """The rule's execution settings as JSON ("{}" for rules without any)."""
        section = EXECUTION_SECTIONS.get(rule)
        settings = to_dict(getattr(self.study.execution, section)) if section else {}
        return json.dumps(settings, sort_keys=True)

    def _add(self, rule: str, wildcards: Mapping[str, str], inputs: Mapping[str, Any],
             outputs: tuple[str, ...], job: Any = None) -> PlannedJob:  # fmt: skip
        planned = PlannedJob(rule, dict(wildcards), dict(inputs), outputs, job)
        key = _key(rule, wildcards)
        assert key not in self._index, f"two jobs of rule {rule} with wildcards {wildcards}"
        self._index[key] = planned
        self._jobs[rule].append(planned)
        return planned

    # -- trajectories --------------------------------------------------------------------------

    def split(self, name: str) -> list[Trajectory]:
        return trajectories(self.study.reynolds_numbers, self.study.seeds, name)

    def boundary_trajectories(self) -> list[tuple[str, Trajectory]]:
        """(boundary, test trajectory) of every wall-bounded run: each test seed at each of
        `held_out_boundary.reynolds_numbers`, for each boundary."""
        held_out, reynolds = self.study.held_out_boundary, self.study.reynolds_numbers
        return [(boundary, Trajectory(re, seed, "test", re in reynolds.held_out))
                for boundary in held_out.boundaries for re in held_out.reynolds_numbers
                for seed in self.study.seeds.test]  # fmt: skip

    def wall_training_trajectories(self) -> list[tuple[str, Trajectory]]:
        """(boundary, trajectory) of the wall-bounded runs that a model trained on walls
        (`ModelKind.walls`) learns from: each training and validation seed at each training
        Reynolds number of `held_out_boundary.reynolds_numbers`, for each boundary; none in a
        study without such a model."""
        if not any(MODEL_KINDS[m].walls for m in self.models):
            return []
        study = self.study
        held_out, seeds = study.held_out_boundary, study.seeds
        reynolds = wall_training_reynolds_numbers(study)
        return [(boundary, Trajectory(re, seed, split)) for boundary in held_out.boundaries
                for split, split_seeds in (("train", seeds.train), ("validation", seeds.validation))
                for re in reynolds for seed in split_seeds]  # fmt: skip

    @property
    def needs_coarse(self) -> bool:
        """Only super-resolution reads coarse-grained fields."""
        return "sr" in self.tasks

    @property
    def main_model(self) -> str:
        """The model shown in the sample and calibration figures: flex, else the first trained."""
        return "flex" if "flex" in self.models else self.models[0]

    # -- simulate, coarsen, statistics ---------------------------------------------------------

    def _plan_data(self) -> None:
        study = self.study
        runs = sorted({(t.reynolds_number, t.seed, t.split) for t in all_trajectories(
            study.reynolds_numbers, study.seeds)})  # fmt: skip
        for re, seed, split in runs:
            wildcards = {"re": paths.reynolds_label(re), "seed": str(seed)}
            self._add("simulate", wildcards, {}, (paths.simulation_file(re, seed),),
                      SimulationJob(study.physics, study.simulate.for_split(split), re,
                                    seed))  # fmt: skip
            if self.needs_coarse:
                self._add("coarsen", wildcards, {"simulation": paths.simulation_file(re, seed)},
                          (paths.coarse_file(re, seed),), CoarsenJob(study.coarsen))  # fmt: skip
        held_out = study.held_out_boundary
        for boundary, trajectory in [*self.boundary_trajectories(),
                                     *self.wall_training_trajectories()]:  # fmt: skip
            re, seed = trajectory.reynolds_number, trajectory.seed
            wildcards = {"boundary": boundary, "re": paths.reynolds_label(re), "seed": str(seed)}
            simulation = paths.boundary_simulation_file(boundary, re, seed)
            self._add("simulate_boundary", wildcards, {}, (simulation,),
                      SimulationJob(study.physics, study.simulate.for_split(trajectory.split),
                                    re, seed, boundary, held_out.time_stepper))  # fmt: skip
            if self.needs_coarse:
                self._add("coarsen_boundary", wildcards, {"simulation": simulation},
                          (paths.boundary_coarse_file(boundary, re, seed),),
                          CoarsenJob(study.coarsen))  # fmt: skip
        training = self.split("train")
        self._add(
            "training_statistics", {},
            {"simulations": [paths.simulation_file(t.reynolds_number, t.seed) for t in training]},
            (paths.STATISTICS,),
            StatisticsJob(study.reynolds_numbers.train, study.seeds.train),
        )  # fmt: skip

    # -- train ---------------------------------------------------------------------------------

    def _split_inputs(self, tasks: tuple[str, ...], walls: bool) -> dict[str, list[str]]:
        """The training and validation files: the periodic runs, or the wall-bounded ones."""
        inputs: dict[str, list[str]] = {}
        for split in ("train", "validation"):
            if walls:
                found = [(b, t) for b, t in self.wall_training_trajectories() if t.split == split]
            else:
                found = [(None, t) for t in self.split(split)]
            inputs[f"{split}_fine"] = [self._data_file(b, t, coarse=False) for b, t in found]
            if "sr" in tasks:
                inputs[f"{split}_coarse"] = [self._data_file(b, t, coarse=True) for b, t in found]
        return inputs

    @staticmethod
    def _data_file(boundary: str | None, trajectory: Trajectory, coarse: bool) -> str:
        """The simulation (or coarse) file of a periodic run (boundary None) or a walled one."""
        re, seed = trajectory.reynolds_number, trajectory.seed
        if boundary is None:
            return paths.coarse_file(re, seed) if coarse else paths.simulation_file(re, seed)
        if coarse:
            return paths.boundary_coarse_file(boundary, re, seed)
        return paths.boundary_simulation_file(boundary, re, seed)

    def train_settings(self, task: str, model: str) -> TrainSettings:
        """The job's training settings: the CRPS settings only for a model trained on the CRPS
        (None for the others, whose code does not read them, so that they rerun nothing)."""
        settings = self.study.train.settings(task, model)
        if MODEL_KINDS[model].objective != "crps":
            settings = dataclasses.replace(settings, crps_members=None, crps_steps=None)
        return settings

    def _plan_training(self) -> None:
        """One job per (task, model), but one per multi-task model (task label MULTITASK)."""
        study = self.study
        for model in self.models:
            labels = [MULTITASK] if MODEL_KINDS[model].multitask else self.tasks
            for label in labels:
                tasks = (
                    tuple(t for t in TASKS if t in self.tasks) if label == MULTITASK else (label,)
                )
                wildcards = {"task": label, "model": model}
                outputs = tuple(paths.train_file(p, label, model)
                                for p in (paths.MODEL, paths.HISTORY, paths.TRAIN_JOB))  # fmt: skip
                walls = MODEL_KINDS[model].walls
                reynolds = study.reynolds_numbers.train
                if walls:  # the training Re among those of the wall-bounded runs
                    reynolds = tuple(sorted(wall_training_reynolds_numbers(study)))
                job = TrainJob(label, model, self.train_settings(label, model), tasks,
                               tuple(study.data.patch(t) for t in tasks),
                               study.data.reynolds_scale, reynolds, study.seeds.train,
                               study.seeds.validation,
                               study.held_out_boundary.boundaries if walls else ("periodic",))  # fmt: skip
                inputs = {**self._split_inputs(tasks, walls), "statistics": paths.STATISTICS}
                if job.settings.init_from is not None:  # fine-tuning: the trained weights
                    inputs["init_model"] = paths.train_file(paths.MODEL, label,
                                                            job.settings.init_from)  # fmt: skip
                self._add("train", wildcards, inputs, outputs, job)

    # -- sample and evaluate -------------------------------------------------------------------

    def steps_study_samplers(self, task: str, model: str) -> list[tuple[int, float]]:
        """(steps, eta) of each sampler of the steps study for `model` (`STEPS_STUDY_MODELS`):
        every number of steps with every eta, but a CRPS-trained model only at its `crps_steps`,
        deterministic (eta 0), as it was trained."""
        sample = self.study.sample
        if model not in STEPS_STUDY_MODELS or not sample.steps_study:
            return []
        if MODEL_KINDS[model].objective == "crps":
            return [(self.train_settings(training_task(task, model), model).crps_steps, 0.0)]
        return [(steps, eta) for eta in sample.steps_study_etas for steps in sample.steps_study]

    def _sample(self, task: str, model: str, trajectory: Trajectory, variable: str = "vorticity",
                steps: int | None = None, boundary: str | None = None,
                eta: float | None = None) -> None:  # fmt: skip
        """One sample job and its evaluation; `steps` and `eta` (the sampler) for the steps study
        (`eta` None: `sample.eta`)."""
        study, sample = self.study, self.study.sample
        re, seed = trajectory.reynolds_number, trajectory.seed
        eta = sample.eta if eta is None else eta
        name = paths.sample_name(task, model, re, seed, variable, steps, boundary, eta)
        fine = self._data_file(boundary, trajectory, coarse=False)
        coarse = self._data_file(boundary, trajectory, coarse=True)
        inputs = {"fine": fine, **({"coarse": coarse} if task == "sr" else {})}
        trivial = model == TRIVIAL[task]
        if not trivial:
            inputs["model"] = paths.train_file(paths.MODEL, training_task(task, model), model)
        diffusion = not trivial and MODEL_KINDS[model].diffusion
        study_name = "steps" if steps is not None else "boundary" if boundary else "main"
        horizon = sample.horizon if steps is None else sample.steps_study_horizon
        job = SampleJob(
            task=task, model=model, variable=variable, study=study_name, reynolds_number=re,
            seed=seed, held_out=trajectory.held_out,
            evaluation_snapshot_stride=study.data.evaluation_snapshot_stride,
            max_samples=sample.max_samples if steps is None else sample.steps_study_samples,
            horizon=horizon if task == "fc" else 1,
            patch_size=study.data.patch(task) if trivial else None,
            ensemble=EnsembleSettings(steps or sample.sampling_steps, sample.ensemble_size,
                                      sample.seed, eta) if diffusion else None,
            boundary=boundary or "periodic",
        )  # fmt: skip
        self._add("sample", {"name": name}, inputs, (paths.sample_file(name),), job)
        self._add("evaluate", {"name": name}, {"sample": paths.sample_file(name)},
                  (paths.evaluation_file(name),), study.evaluate)  # fmt: skip

    def _plan_sampling(self) -> None:
        sample = self.study.sample
        tests = self.split("test")
        for task in self.tasks:
            for model in [*self.models, TRIVIAL[task]]:
                for trajectory in tests:
                    self._sample(task, model, trajectory)
            if task == "sr":
                zero_shot = [m for m in self.models if m in ZERO_SHOT_MODELS] + [TRIVIAL[task]]
                for model in zero_shot:
                    for trajectory in tests:
                        for variable in sample.zero_shot_variables:
                            self._sample(task, model, trajectory, variable)
            for model in self.models:
                for steps, eta in self.steps_study_samplers(task, model):
                    for trajectory in tests:
                        self._sample(task, model, trajectory, steps=steps, eta=eta)
            for model in [*self.models, TRIVIAL[task]]:
                for boundary, trajectory in self.boundary_trajectories():
                    self._sample(task, model, trajectory, boundary=boundary)

    # -- summary, figures ------------------------------------------------------------------------

    def figures(self) -> list[str]:
        """The figures this study can draw (names of `flex.figures.catalogue`)."""
        names = [f"{stem}_{task}" for task in self.tasks for stem in catalogue.PER_TASK
                 if stem != "fig4_calibration" or MODEL_KINDS[self.main_model].diffusion]  # fmt: skip
        if "fc" in self.tasks:
            names.append("fig5_forecast_leads")
        steps_study = [j.job for j in self._jobs["sample"] if j.job.study == "steps"]
        if any(j.model == self.main_model and j.ensemble.eta == 0 for j in steps_study):
            names.append("fig6_sampling_steps")  # deterministic DDIM of the main model
        if steps_study:
            names.append("fig11_calibration_study")
        if {"flex", "flex_raw"} <= set(self.models):
            names.append("fig7_residual_vs_raw")
        if "sr" in self.tasks and self.study.sample.zero_shot_variables:
            names.append("fig8_velocity_zero_shot")
        if self.study.held_out_boundary.boundaries:
            names.append("fig10_held_out_boundary")
        return names

    def example_reynolds_number(self) -> float:
        """The test trajectory of the sample figures: the configured one, or the first."""
        chosen = self.study.figures.example_reynolds_number
        return chosen if chosen is not None else self.split("test")[0].reynolds_number

    def _plan_outputs(self) -> None:
        evaluations = [job.outputs[0] for job in self._jobs["evaluate"]]
        self._add("summary", {}, {"evaluations": evaluations},
                  (paths.SUMMARY_CSV, paths.SUMMARY_NC))  # fmt: skip
        main = [job for job in self._jobs["sample"]
                if job.job.study == "main" and job.job.variable == "vorticity"]  # fmt: skip
        shown = {self.main_model, *TRIVIAL.values()}
        samples = [job.outputs[0] for job in main if job.job.model in shown]
        evaluations = [paths.evaluation_file(job.wildcards["name"]) for job in main]
        evaluations += [paths.evaluation_file(job.wildcards["name"]) for job in self._jobs["sample"]
                        if job.job.study == "boundary"]  # fmt: skip
        figures = self.figures()
        outputs = [paths.figure_file(name, suffix) for name in figures
                   for suffix in catalogue.FIGURE_SUFFIXES]  # fmt: skip
        outputs += [paths.table_file(task, suffix) for task in self.tasks
                    for suffix in catalogue.TABLE_SUFFIXES]  # fmt: skip
        if "fig11_calibration_study" in figures:
            outputs += [paths.table_file(catalogue.CALIBRATION, suffix)
                        for suffix in catalogue.TABLE_SUFFIXES]  # fmt: skip
        outputs += [paths.table_file(catalogue.CLAIMS, suffix)
                    for suffix in catalogue.CLAIMS_SUFFIXES]  # fmt: skip
        job = FiguresJob(
            dpi=self.study.figures.dpi, example_reynolds_number=self.example_reynolds_number(),
            example_sample=self.study.figures.example_sample, main_model=self.main_model,
            figures=tuple(figures), tasks=self.tasks,
            sampling_steps=self.study.sample.sampling_steps,
        )  # fmt: skip
        inputs = {"summary": paths.SUMMARY_NC, "evaluations": evaluations, "samples": samples}
        self._add("figures", {}, inputs, tuple(outputs), job)
