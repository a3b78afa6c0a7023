"""Cross-field rules of the study configuration that JSON schema cannot express.

Each violated rule is one line naming the keys, their values and what is allowed. They run before
any job starts (the workflow at parse time, `flex check-config`): a configuration that passes them
does not fail later inside a job for a reason a user could have been told up front.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from flex.config.sections import StudyConfiguration
from flex.kinds import INPUT_CHANNELS, MODEL_KINDS, TASKS, training_task
from flex.models.config import preset
from flex.paths import reynolds_label
from flex.simulate.stability import diffusive_time_step_limit

MIN_COARSE_POINTS = 2
"""A super-resolution patch holds at least this many coarse values per side."""


def cross_field_problems(config: StudyConfiguration) -> list[str]:
    """Every violated cross-field rule, one line each (key, value, what is allowed)."""
    problems = _patch_rules(config)
    if problems:  # the other rules need every trained task's patch side
        return problems
    for rules in (_grid_rules, _time_rules, _split_rules, _boundary_rules, _model_rules,
                  _sample_rules, _figure_rules):  # fmt: skip
        problems += rules(config)
    return list(dict.fromkeys(problems))  # each line once, in order


def _patch_rules(config: StudyConfiguration) -> list[str]:
    tasks = list(config.train.tasks)
    return [
        f"'data.patch_size' = {config.data.patch_size} has no side for the task '{task}' of "
        f"'train.tasks'; allowed: one side for every task, or one for each of {tasks}"
        for task in tasks
        if config.data.patch(task) is None
    ]


def _grid_rules(config: StudyConfiguration) -> list[str]:
    problems = []
    grid, factor = config.simulate.grid_size, config.coarsen.coarsen_factor
    if grid % factor:
        problems.append(
            f"'simulate.grid_size' = {grid} is not divisible by 'coarsen.coarsen_factor' = {factor}; "
            f"allowed: a grid size that is a multiple of {factor}"
        )
    for task in config.train.tasks:
        patch, key = config.data.patch(task), config.data.patch_key(task)
        if patch % factor:
            problems.append(
                f"'{key}' = {patch} is not divisible by 'coarsen.coarsen_factor' = {factor}; "
                f"allowed: a multiple of {factor}"
            )
        if patch > grid:
            problems.append(
                f"'{key}' = {patch} is larger than 'simulate.grid_size' = {grid}; "
                f"allowed: at most {grid}"
            )
        if task == "sr" and patch // factor < MIN_COARSE_POINTS:
            problems.append(
                f"'coarsen.coarsen_factor' = {factor} leaves {patch // factor} coarse value(s) "
                f"across a '{key}' = {patch} patch; allowed: a factor of at most "
                f"{patch // MIN_COARSE_POINTS} (at least {MIN_COARSE_POINTS} coarse values per side)"
            )
    cutoff = grid / 3 if config.simulate.dealias else grid / 2
    wavenumber = config.physics.forcing_wavenumber
    if wavenumber >= cutoff:
        problems.append(
            f"'physics.forcing_wavenumber' = {wavenumber} is not resolved by 'simulate.grid_size' = "
            f"{grid} (largest wavenumber kept: {cutoff:g}, with 'simulate.dealias' = "
            f"{str(config.simulate.dealias).lower()}); allowed: a wavenumber below {cutoff:g}"
        )
    return problems


def _time_rules(config: StudyConfiguration) -> list[str]:
    sim, problems = config.simulate, []
    if sim.time_step is not None and sim.time_step > sim.save_interval:
        problems.append(
            f"'simulate.time_step' = {sim.time_step:g} is longer than 'simulate.save_interval' = "
            f"{sim.save_interval:g}; allowed: a time step of at most the save interval"
        )
    if sim.courant_abort < sim.courant_number:
        problems.append(
            f"'simulate.courant_abort' = {sim.courant_abort:g} is below 'simulate.courant_number' "
            f"= {sim.courant_number:g}, the Courant number the time step aims at; allowed: at "
            f"least {sim.courant_number:g}"
        )
    return problems


def _boundary_rules(config: StudyConfiguration) -> list[str]:
    """Held-out boundaries: at the study's Reynolds numbers, with a stable diffusive time step
    (the time step is at most the CFL one, `flex.simulate.solver.time_discretisation`)."""
    held_out, problems = config.held_out_boundary, []
    if not held_out.boundaries:
        return problems
    allowed = config.reynolds_numbers.all
    problems += [
        f"'held_out_boundary.reynolds_numbers' holds {reynolds_label(re)}, which is not a "
        f"Reynolds number of the study; allowed: one of {[reynolds_label(r) for r in allowed]} "
        "(reynolds_numbers.train or reynolds_numbers.held_out)"
        for re in held_out.reynolds_numbers
        if re not in allowed
    ]
    if not held_out.reynolds_numbers:
        problems.append(
            f"'held_out_boundary.boundaries' = {list(held_out.boundaries)} but "
            "'held_out_boundary.reynolds_numbers' is empty; allowed: at least one Reynolds number"
        )
    if config.coarsen.method == "spectral_cutoff" and "sr" in config.train.tasks:
        problems.append(
            f"'coarsen.method' = spectral_cutoff with 'held_out_boundary.boundaries' = "
            f"{list(held_out.boundaries)}: the spectral cut-off takes y as periodic, which a "
            "wall-bounded field is not; allowed: subsample or box_average"
        )
    sim, physics = config.simulate, config.physics
    spacing = physics.domain_length / sim.grid_size
    time_step = sim.time_step or sim.courant_number * spacing / sim.max_velocity
    for re in held_out.reynolds_numbers:
        limit = diffusive_time_step_limit(held_out.time_stepper, 1.0 / re, physics.drag, spacing)
        if time_step > limit:
            problems.append(
                f"the time step {time_step:.4g} ('simulate.time_step', or the CFL step of "
                f"'simulate.courant_number') is above the diffusive limit {limit:.4g} of "
                f"'held_out_boundary.time_stepper' = {held_out.time_stepper} at Re = "
                f"{reynolds_label(re)}; allowed: a time step of at most {limit:.4g}"
            )
    return problems


def _split_rules(config: StudyConfiguration) -> list[str]:
    problems = []
    seeds = config.seeds
    splits = {"train": seeds.train, "validation": seeds.validation, "test": seeds.test}
    names = list(splits)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            shared = sorted(set(splits[first]) & set(splits[second]))
            if shared:
                problems.append(
                    f"seed(s) {shared} appear in both 'seeds.{first}' and 'seeds.{second}'; "
                    "allowed: disjoint seeds, so that no trajectory is in two splits"
                )
    reynolds = config.reynolds_numbers
    both = [_plain(x) for x in sorted(set(reynolds.train) & set(reynolds.held_out))]
    if both:
        problems.append(
            f"Reynolds number(s) {both} appear in both 'reynolds_numbers.train' and "
            "'reynolds_numbers.held_out'; allowed: held-out values that are not training values"
        )
    labels = defaultdict(set)
    for value in (*reynolds.train, *reynolds.held_out):
        labels[reynolds_label(value)].add(value)
    for label, values in sorted(labels.items()):
        if len(values) > 1:
            problems.append(
                f"Reynolds numbers {sorted(map(_plain, values))} in 'reynolds_numbers' share the "
                f"file name re{label}; allowed: values that differ in their first 6 digits"
            )
    return problems


def _model_rules(config: StudyConfiguration) -> list[str]:
    train, problems = config.train, []
    for index, model in enumerate(train.models):
        if model not in MODEL_KINDS:
            problems.append(
                f"'train.models[{index}]' = '{model}' is not allowed; expected one of "
                + ", ".join(MODEL_KINDS)
            )
    if problems:
        return problems
    for model in (m for m in train.models if MODEL_KINDS[m].multitask):
        if len(train.tasks) < 2:
            problems.append(
                f"'train.models' has '{model}', which learns several tasks at once, but "
                f"'train.tasks' = {list(train.tasks)}; allowed: two tasks or more, or the "
                "single-task models"
            )
    trained = [f"{training_task(task, model)}/{model}" for model in train.models
               for task in train.tasks]  # fmt: skip
    for key in train.overrides:
        if key not in trained:
            problems.append(
                f"'train.overrides' has the key '{key}', but {key} is not trained "
                f"('train.tasks' = {list(train.tasks)}, 'train.models' = {list(train.models)}); "
                f"allowed: {', '.join(dict.fromkeys(trained))}"
            )
    problems += _fine_tuning_rules(train) + _walls_rules(config) + _control_rules(train)
    if problems:
        return problems
    for task in train.tasks:
        patch, key = config.data.patch(task), config.data.patch_key(task)
        for model in train.models:
            job = f"{training_task(task, model)}/{model}"
            size = train.settings(*job.split("/")).model_size
            backbone = MODEL_KINDS[model].backbone
            try:
                preset(backbone, size, INPUT_CHANNELS[task], patch)
            except ValueError as error:
                override = "model_size" in train.overrides.get(job, {})
                where = (f"train.overrides['{job}'].model_size" if override
                         else "train.defaults.model_size")  # fmt: skip
                problems.append(
                    f"'{key}' = {patch} does not fit the '{size}' {backbone} backbone "
                    f"('{where}'): {error}; allowed: a patch size divisible by its down-samplings"
                )
    return problems


def wall_training_reynolds_numbers(config: StudyConfiguration) -> list[float]:
    """The Reynolds numbers of `held_out_boundary` that are also training ones: those at which a
    model trained on walls (`ModelKind.walls`) has wall-bounded training runs. (Here, not on the
    configuration's dataclasses, which every stage imports: the workflow alone reads it.)"""
    train = config.reynolds_numbers.train
    return [re for re in config.held_out_boundary.reynolds_numbers if re in train]


def _walls_rules(config: StudyConfiguration) -> list[str]:
    """A model trained on walls (`ModelKind.walls`) needs wall-bounded training trajectories:
    a held-out boundary, and a training Reynolds number among its Reynolds numbers."""
    held_out, problems = config.held_out_boundary, []
    for model in (m for m in config.train.models if MODEL_KINDS[m].walls):
        if not held_out.boundaries or not wall_training_reynolds_numbers(config):
            problems.append(
                f"'train.models' has '{model}', which trains on the wall-bounded trajectories, but "
                f"'held_out_boundary.boundaries' = {list(held_out.boundaries)} and "
                f"'held_out_boundary.reynolds_numbers' = "
                f"{[reynolds_label(re) for re in held_out.reynolds_numbers]}; allowed: a boundary "
                "and at least one of 'reynolds_numbers.train' "
                f"({[reynolds_label(re) for re in config.reynolds_numbers.train]}) among them"
            )
    return problems


def _control_rules(train) -> list[str]:
    """A control (`ModelKind.continued`) trains exactly as each model trained on walls of its
    task: the claims table calls it "the same training", so only the data may differ."""
    problems = []
    for task in train.tasks:
        for control in (m for m in train.models if MODEL_KINDS[m].continued):
            for model in (m for m in train.models if MODEL_KINDS[m].walls):
                ours, theirs = train.settings(task, control), train.settings(task, model)
                differ = [f"{f.name} ({getattr(ours, f.name)!r} against {getattr(theirs, f.name)!r})"
                          for f in dataclasses.fields(ours)
                          if getattr(ours, f.name) != getattr(theirs, f.name)]  # fmt: skip
                if differ:
                    problems.append(
                        f"'train.overrides['{task}/{control}']' differs from "
                        f"'train.overrides['{task}/{model}']' in {', '.join(differ)}; allowed: the "
                        f"same settings ({control} is the control of {model}: the same training "
                        "on the periodic trajectories)"
                    )
    return problems


def _fine_tuning_rules(train) -> list[str]:
    """A job's `init_from` names another single-task model of the study with the same backbone
    and size (its weights must fit), and no job starts, through a chain, from itself; a model
    that continues another's training (`ModelKind.continued`) has one."""
    problems, sources = [], {}
    single = [m for m in train.models if not MODEL_KINDS[m].multitask]
    for model in train.models:
        for task in dict.fromkeys(training_task(t, model) for t in train.tasks):
            job, source = f"{task}/{model}", train.settings(task, model).init_from
            backbone = MODEL_KINDS[model].backbone
            allowed = [m for m in single if m != model and MODEL_KINDS[m].backbone == backbone]
            if MODEL_KINDS[model].multitask:
                allowed = []  # a multi-task model is trained from scratch
            if source is None:
                if MODEL_KINDS[model].continued:
                    problems.append(
                        f"'train.overrides['{job}'].init_from' is not set, but {model} continues "
                        "another model's training (from scratch it would repeat that model); "
                        f"allowed: a single-task {backbone} model of 'train.models' "
                        f"({', '.join(allowed) or 'none'})"
                    )
                continue
            overridden = "init_from" in train.overrides.get(job, {})
            where = f"train.overrides['{job}']" if overridden else "train.defaults"
            where += ".init_from"
            if source not in allowed:
                problems.append(
                    f"'{where}' = '{source}' for {job} is not allowed; allowed: "
                    f"{'' if MODEL_KINDS[model].continued else 'null, or '}another single-task "
                    f"{backbone} model of 'train.models' ({', '.join(allowed) or 'none'})"
                )
                continue
            sizes = (train.settings(task, model).model_size,
                     train.settings(task, source).model_size)  # fmt: skip
            if sizes[0] != sizes[1]:
                problems.append(
                    f"'{where}' = '{source}' for {job}: {job} is '{sizes[0]}' but {task}/{source} "
                    f"is '{sizes[1]}'; allowed: a model of the same model_size"
                )
                continue
            sources[job] = f"{task}/{source}"
    for job in sources:
        chain, current = [job], sources[job]
        while current in sources and current not in chain:
            chain.append(current)
            current = sources[current]
        if current == job and job == min(chain):  # each cycle once
            problems.append(
                f"'init_from' makes {' -> '.join([*chain, job])} start from itself; allowed: "
                "chains that end at a model trained from scratch (init_from null)"
            )
    return problems


def _evaluation_patches(config: StudyConfiguration, task: str, horizon: int) -> int:
    """Evaluation patches per test trajectory (before `max_samples`)."""
    snapshots = config.simulate.snapshots("test")
    times = range(0, snapshots) if task == "sr" else range(1, snapshots - horizon)
    tiles = (config.simulate.grid_size // config.data.patch(task)) ** 2
    return len(times[:: config.data.evaluation_snapshot_stride]) * tiles


def _sample_rules(config: StudyConfiguration) -> list[str]:
    sample, simulate, problems = config.sample, config.simulate, []
    if "fc" not in config.train.tasks:
        return problems
    # frames t-1, t and the leads: the rollouts (and the steps study) of the test trajectories,
    # one lead in a training or validation example
    needs = {"sample.horizon": ("test", sample.horizon)}
    if sample.steps_study:
        needs["sample.steps_study_horizon"] = ("test", sample.steps_study_horizon)
    needs["forecasting training examples"] = ("train", 1)
    for what, (split, horizon) in needs.items():
        snapshots = simulate.snapshots(split)
        count_key = "simulate.num_snapshots"
        if split != "train" and simulate.evaluation_num_snapshots is not None:
            count_key = "simulate.evaluation_num_snapshots"
        if snapshots < horizon + 2:
            smaller = (f" or a horizon of at most {snapshots - 2}"
                       if snapshots > 2 and what.startswith("sample.") else "")  # fmt: skip
            subject = f"'{what}' = {horizon}" if what.startswith("sample.") else what
            problems.append(
                f"{subject} needs {horizon + 2} snapshots per trajectory (frames t-1, t and "
                f"{horizon} lead(s)), but '{count_key}' = {snapshots}; allowed: at least "
                f"{horizon + 2} snapshots{smaller}"
            )
    return problems


def _figure_rules(config: StudyConfiguration) -> list[str]:
    figures, problems = config.figures, []
    every_reynolds = (*config.reynolds_numbers.train, *config.reynolds_numbers.held_out)
    example = figures.example_reynolds_number
    if example is not None and example not in every_reynolds:
        problems.append(
            f"'figures.example_reynolds_number' = {_plain(example)} is not a Reynolds number of "
            f"the study; allowed: one of {sorted(map(_plain, every_reynolds))}, or null"
        )
    available = {}
    for task in (t for t in TASKS if t in config.train.tasks):
        available[task] = _evaluation_patches(config, task, config.sample.horizon)
        if config.sample.max_samples is not None:
            available[task] = min(available[task], config.sample.max_samples)
    fewest = min(available.values(), default=0)
    if figures.example_sample >= fewest > 0:
        counts = ", ".join(f"{task}: {count}" for task, count in available.items())
        problems.append(
            f"'figures.example_sample' = {figures.example_sample} is beyond the {fewest} "
            f"evaluation patches of a test trajectory ({counts}; 'sample.max_samples' = "
            f"{config.sample.max_samples}); allowed: 0 .. {fewest - 1}"
        )
    return problems


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
