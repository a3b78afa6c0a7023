"""What reruns, stated once: for every leaf key of config/schema.yaml and for an edit of every
module of src/flex, the jobs a dry run of the finished tiny study schedules. Keys that change
the study plan alike, and modules imported by the same rules, form classes; one real dry run per
class decides it (the workflow is a thin adapter over the plan, and a module edit acts only
through the code digests of the rules that import it).

The keys are generated from the schema and the modules from the source tree, so that a new key
or module missing from the tables below fails the test. Counts are those of the tiny study
(tests/config/tiny.yaml): 11 trajectories (3 training Re x train/validation seeds, 5 test Re)
and one wall-bounded test trajectory, 11 training jobs (2 tasks x 5 single-task models, and the
multi-task flex_mt once), 144 sample files (70 main: 2 tasks x (6 models + trivial) x 5 test
trajectories; 20 zero-shot: flex and bicubic x 5 x u, v; 40 steps study: 2 tasks x 2 steps x 2
samplers (eta) x 5 test trajectories; 14 between walls: 2 tasks x (6 models + trivial)) and as many
evaluation files. Sample jobs are counted
by the plan's rule `sample`, whichever workflow rule runs them (`sample_trivial` for the trivial
baselines: `tests.test_workflow.job_counts`).
"""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from flex import sources
from flex.config.load import load_study
from flex.kinds import MULTITASK
from flex.plan import ENTRY_MODULES, StudyPlan
from tests.conftest import ROOT, SCHEMA, TINY, read_yaml, snakemake
from tests.test_workflow import job_counts

pytestmark = pytest.mark.slow

TAIL = {"summary": 1, "figures": 1, "all": 1}
EVALUATE = {"evaluate": 144, **TAIL}
SAMPLE = {"sample": 144, **EVALUATE}  # 14 of them on the wall-bounded trajectory
TRAIN = {"train": 11, "sample": 122, "evaluate": 122, **TAIL}  # trivial baselines need no model
STATISTICS = {"training_statistics": 1, **TRAIN}
COARSEN = {
    "coarsen": 11,
    "coarsen_boundary": 1,
    "train": 6,
    "sample": 88,
    "evaluate": 88,
    **TAIL,
}  # sr (82 samples), and flex_mt, which also learns sr: its fc samples (5 main, 1 walled)
# the tiny study's one wall-bounded trajectory: every model and baseline of both tasks on it
CHANNEL = {"simulate_boundary": 1, "coarsen_boundary": 1, "sample": 14, "evaluate": 14, **TAIL}
EVERYTHING = {
    "simulate": 11,
    "simulate_boundary": 1,
    "coarsen": 11,
    "coarsen_boundary": 1,
    "training_statistics": 1,
    "train": 11,
    **SAMPLE,
}
NOTHING: dict[str, int] = {}

# fmt: off
KEYS = {
    # key: (new value, jobs a dry run schedules)
    "study.name": ("renamed", NOTHING),
    "study.description": ("another description", NOTHING),
    "physics.domain_length": (6.0, EVERYTHING),
    "physics.drag": (0.2, EVERYTHING),
    "physics.forcing_wavenumber": (3, EVERYTHING),
    "physics.forcing_amplitude": (0.8, EVERYTHING),
    # a new training Re: its 3 trajectories, the statistics, every model, every sample of a
    # model (now 6 test trajectories: 72 main, 12 zero-shot, 48 steps) and the trivial
    # baselines of the new test trajectory (2 main, 2 zero-shot)
    "reynolds_numbers.train": ([40, 80, 120, 160], {
        "simulate": 3, "coarsen": 3, "training_statistics": 1, "train": 11, "sample": 148,
        "evaluate": 148, **TAIL}),  # + 12 trained models' samples between walls
    # a new held-out Re: one test trajectory, 14 main, 4 zero-shot and 8 steps-study samples,
    # nothing trained
    "reynolds_numbers.held_out": ([60, 100, 240], {
        "simulate": 1, "coarsen": 1, "sample": 26, "evaluate": 26, **TAIL}),
    "seeds.train": ([11, 21], {"simulate": 3, "coarsen": 3, **STATISTICS}),
    "seeds.validation": ([12, 22], {"simulate": 3, "coarsen": 3, **TRAIN}),  # not the statistics
    # a second test seed: 5 trajectories x (14 main + 4 zero-shot + 8 steps study) + 14
    # between walls
    "seeds.test": ([13, 23], {"simulate": 5, "simulate_boundary": 1, "coarsen": 5,
                              "coarsen_boundary": 1, "sample": 144, "evaluate": 144, **TAIL}),
    "held_out_boundary.boundaries": ([], TAIL),  # fewer files: the summary and figures only
    "held_out_boundary.reynolds_numbers": ([60, 240], CHANNEL),  # one new trajectory
    "held_out_boundary.time_stepper": ("heun_rk2", CHANNEL),
    "simulate.grid_size": (128, EVERYTHING),
    "simulate.dtype": ("float64", EVERYTHING),
    "simulate.time_stepper": ("crank_nicolson_rk3", EVERYTHING),
    "simulate.dealias": (False, EVERYTHING),
    "simulate.courant_number": (0.4, EVERYTHING),
    "simulate.max_velocity": (8.0, EVERYTHING),
    "simulate.time_step": (0.05, EVERYTHING),
    "simulate.courant_abort": (2.0, EVERYTHING),  # decides whether a run is refused
    "simulate.spinup_time": (3.0, EVERYTHING),
    "simulate.save_interval": (0.25, EVERYTHING),
    "simulate.num_snapshots": (13, EVERYTHING),
    # the validation and test trajectories (3 + 5, and the one between walls), not the training
    # ones: their statistics stay
    "simulate.evaluation_num_snapshots": (8, {
        "simulate": 8, "simulate_boundary": 1, "coarsen": 8, "coarsen_boundary": 1,
        "train": 11, **SAMPLE}),
    "simulate.initial_peak_wavenumber": (3.0, EVERYTHING),
    "simulate.initial_max_velocity": (2.5, EVERYTHING),
    "simulate.jax_threefry_partitionable": (False, EVERYTHING),
    "simulate.resolution_band_start": (0.7, EVERYTHING),  # the under_resolved attribute
    "simulate.resolution_max_enstrophy_fraction": (0.01, EVERYTHING),
    "simulate.compression": ("zstd", EVERYTHING),  # the files change, not the values
    "simulate.storage_tile": (32, EVERYTHING),
    "coarsen.method": ("box_average", COARSEN),
    "coarsen.coarsen_factor": (4, COARSEN),
    "data.patch_size": (16, {"train": 11, **SAMPLE}),  # the trivial baselines' patches too
    "data.reynolds_scale": (200.0, TRAIN),
    "data.evaluation_snapshot_stride": (2, SAMPLE),
    # the same tasks in another order: the figures list them in it; flex_mt's job keeps the
    # canonical order (flex.kinds.TASKS)
    "train.tasks": (["fc", "sr"], {"figures": 1, "all": 1}),
    "train.models": (["flex", "unet", "flex_raw"], TAIL),
    **{f"train.defaults.{key}": (value, TRAIN) for key, value in {
        "model_size": "small", "optimizer": "adamw", "learning_rate": 1.0e-3,
        "betas": [0.9, 0.99], "weight_decay": 0.01, "warmup_steps": 3, "lr_schedule": "constant",
        "steps": 7, "validation_members": 3, "ranks": 2,
        "batch_size": 3, "grad_clip": 0.5, "ema_decay": 0.95, "loss": "mse",
        "logsnr_shift": 2.0, "dropout": 0.0, "validation_every": 2, "validation_batches": 2,
        "precision": "bf16", "seed": 1}.items()},
    # every job of another model starts from flex's weights (fine-tuning) where allowed: with
    # flex and regression trained and flex's own jobs from scratch (COMPANIONS), the regression
    # jobs and their samples (2 x 5 main, 2 between walls)
    "train.defaults.init_from": ("flex", {"train": 2, "sample": 12, "evaluate": 12, **TAIL}),
    # read by flex_crps only, which the tiny study does not train (tests/test_plan.py)
    "train.defaults.crps_members": (3, NOTHING),
    "train.defaults.crps_steps": (3, NOTHING),
    # one job's override: sr/flex (5 main, 10 zero-shot, 20 steps study)
    "train.overrides": ({"sr/flex": {"learning_rate": 1.0e-3}}, {
        "train": 1, "sample": 36, "evaluate": 36, **TAIL}),  # + 1 between walls
    # diffusion models' main (2 tasks x 5 models x 5) and walled (10) files, flex's zero-shot (10)
    "sample.sampling_steps": (3, {"sample": 70, "evaluate": 70, **TAIL}),
    "sample.ensemble_size": (4, {"sample": 110, "evaluate": 110, **TAIL}),  # + the steps study
    "sample.max_samples": (3, {"sample": 104, "evaluate": 104, **TAIL}),  # all but steps study
    "sample.horizon": (3, {"sample": 42, "evaluate": 42, **TAIL}),  # fc main and walled files
    "sample.zero_shot_variables": (["u"], TAIL),
    "sample.steps_study": ([1, 2, 4], {"sample": 20, "evaluate": 20, **TAIL}),
    "sample.steps_study_etas": ([0.0, 0.5, 1.0], {"sample": 20, "evaluate": 20, **TAIL}),
    "sample.steps_study_samples": (3, {"sample": 40, "evaluate": 40, **TAIL}),
    "sample.steps_study_horizon": (2, {"sample": 20, "evaluate": 20, **TAIL}),  # fc only
    "sample.seed": (1, {"sample": 110, "evaluate": 110, **TAIL}),  # diffusion models only
    # diffusion models only, not the steps study (its samplers are its own)
    "sample.eta": (0.5, {"sample": 70, "evaluate": 70, **TAIL}),
    "evaluate.rank_stride": (2, EVALUATE),
    "figures.dpi": (100, {"figures": 1, "all": 1}),
    "figures.example_reynolds_number": (80, {"figures": 1, "all": 1}),
    "figures.example_sample": (1, {"figures": 1, "all": 1}),
    # how jobs run, never what they compute
    # without --sdm conda (no conda here); under it, Snakemake's software-env trigger reruns
    # the jobs of a changed environment file
    "execution.environments.sim": ("envs/sim-cuda.yaml", NOTHING),
    "execution.environments.torch": ("envs/torch-cuda.yaml", NOTHING),
    "execution.environments.analysis": ("envs/torch.yaml", NOTHING),
    "execution.simulate.device": ("cpu", NOTHING),
    "execution.simulate.snapshots_per_chunk": (3, NOTHING),
    "execution.coarsen.snapshots_per_chunk": (2, NOTHING),
    "execution.train.device": ("cpu", NOTHING),
    "execution.train.num_workers": (2, NOTHING),
    "execution.train.compile": (True, NOTHING),
    "execution.train.checkpoint_every": (5, NOTHING),
    "execution.sample.device": ("cpu", NOTHING),
    "execution.sample.batch_size": (1, NOTHING),
    "execution.evaluate.samples_per_chunk": (3, NOTHING),
}
# fmt: on

COMPANIONS = {
    "train.defaults.init_from": {
        "train.models": ["flex", "regression"],
        "train.overrides": {"sr/flex": {"init_from": None}, "fc/flex": {"init_from": None}},
    },
}
"""Keys whose new value needs other keys changed with it to be valid (the tiny study's other
models cannot start from flex), and those edits (each a change the key's counts include)."""

ALL_STAGES = EVERYTHING
# fmt: off
SOURCES = {
    # a module (or a folder: every module in it), and what an edit to it reruns
    "flex/__init__.py": ALL_STAGES,
    "flex/command.py": ALL_STAGES,
    "flex/errors.py": ALL_STAGES,
    "flex/dims.py": ALL_STAGES,  # through io/netcdf.py
    "flex/io/": ALL_STAGES,
    "flex/config/": ALL_STAGES,  # the job and config dataclasses every stage reads
    # read by the workflow only: a change that matters changes the plan, hence the params
    "flex/config/checks.py": NOTHING,
    "flex/config/load.py": NOTHING,
    "flex/config/schema.py": NOTHING,
    "flex/plan.py": NOTHING,
    "flex/paths.py": NOTHING,
    "flex/cli.py": NOTHING,
    "flex/publish.py": NOTHING,
    "flex/footprint.py": NOTHING,  # `flex plan`
    "flex/simulate/": EVERYTHING,
    "flex/simulate/stability.py": NOTHING,  # the configuration check of the time step only
    "flex/devices.py": EVERYTHING,  # simulate, train and sample choose their device there
    "flex/coarsen/": COARSEN,
    "flex/statistics/": STATISTICS,
    "flex/data/": {**STATISTICS, **SAMPLE},  # statistics, training and sampling read them
    "flex/data/examples.py": {**TRAIN, **SAMPLE},
    "flex/data/multitask.py": TRAIN,  # the training data of a multi-task model
    "flex/data/patches.py": {**TRAIN, **SAMPLE},
    "flex/data/upsample.py": {**TRAIN, **SAMPLE},
    "flex/data/statistics.py": STATISTICS,  # FIELDS (statistics), read_statistics (training)
    "flex/kinds.py": {**TRAIN, **SAMPLE, "figures": 1},
    "flex/models/": {**TRAIN, **SAMPLE},
    "flex/diffusion/": {**TRAIN, **SAMPLE},
    "flex/diffusion/loss.py": TRAIN,
    "flex/diffusion/crps.py": TRAIN,  # the objective of flex_crps; sampling does not import it
    "flex/sources.py": TRAIN,  # the resume key of a training job
    "flex/train/": TRAIN,
    "flex/sample/": SAMPLE,
    "flex/evaluate/": EVALUATE,
    "flex/summary/": TAIL,
    "flex/figures/": {"figures": 1, "all": 1},
}
# fmt: on


def schema_leaf_keys() -> list[str]:
    """Every leaf key of config/schema.yaml (objects with properties are walked into)."""
    schema = read_yaml(SCHEMA)

    def resolve(node: dict) -> dict:
        if "$ref" in node:
            node = {**schema["$defs"][node["$ref"].split("/")[-1]],
                    **{k: v for k, v in node.items() if k != "$ref"}}  # fmt: skip
        for part in node.get("allOf", []):
            node = {**resolve(part), **{k: v for k, v in node.items() if k != "allOf"}}
        return node

    def walk(node: dict, prefix: str):
        node = resolve(node)
        if node.get("type") == "object" and "properties" in node:
            for key, child in node["properties"].items():
                yield from walk(child, f"{prefix}.{key}" if prefix else key)
        else:
            yield prefix

    return list(walk(schema, ""))


def module_files() -> list[str]:
    return sorted(str(p.relative_to(ROOT / "src")) for p in (ROOT / "src/flex").rglob("*.py"))


def expected_for_module(module: str) -> dict[str, int]:
    """The most specific entry of SOURCES: the module itself, else its deepest folder."""
    matches = [key for key in SOURCES if module == key or (key.endswith("/")
                                                          and module.startswith(key))]  # fmt: skip
    if not matches:
        raise KeyError(module)
    return SOURCES[max(matches, key=len)]


def test_the_tables_cover_every_key_and_module():
    assert set(schema_leaf_keys()) == set(KEYS), set(schema_leaf_keys()) ^ set(KEYS)
    uncovered = []
    for module in module_files():
        try:
            expected_for_module(module)
        except KeyError:
            uncovered.append(module)
    assert not uncovered


def _with(config: dict, key: str, value) -> dict:
    changed = copy.deepcopy(config)
    *parents, last = key.split(".")
    node = changed
    for part in parents:
        node = node[part]
    assert node[last] != value, f"{key}: the table's value is the tiny study's own"
    node[last] = value
    return changed


def _edited(config: dict, key: str) -> dict:
    """The config with the table's new value of `key`, and its companion edits, if any."""
    for other, value in COMPANIONS.get(key, {}).items():
        config = _with(config, other, value)
    return _with(config, key, KEYS[key][0])


def dry_run(workdir: Path, config: dict, name: str) -> dict[str, int]:
    """{rule: jobs} of a dry run, and the reasons Snakemake gives (kept for failure messages)."""
    (workdir / name).write_text(yaml.safe_dump(config))
    done = snakemake(workdir, "-n", "--cores", "2", "--configfile", name)
    text = done.stdout + done.stderr
    REASONS[name] = sorted({line.strip()[:300] for line in text.splitlines() if "reason:" in line})
    return {} if "Nothing to be done" in text else job_counts(text)


REASONS: dict[str, list[str]] = {}


def plan_changes(config: dict, baseline: dict) -> frozenset:
    """What a configuration changes in the study plan against `baseline`: the jobs that are new,
    gone, or have other parameters or inputs. The rules are a thin adapter over the plan, so two
    configurations with the same changes give the same dry run."""

    def jobs(raw):
        plan = StudyPlan(load_study(raw, SCHEMA))
        return {(rule, tuple(sorted(job.wildcards.items()))): (job.params, repr(job.inputs))
                for rule in ENTRY_MODULES for job in plan.jobs(rule)}  # fmt: skip

    before, after = jobs(baseline), jobs(config)
    return frozenset(
        key for key in before.keys() | after.keys() if before.get(key) != after.get(key)
    )


def test_one_task_s_patch_size_changes_that_task_s_jobs_only():
    """`data.patch_size` per task: a new sr side changes the sr models and the sr samples (their
    evaluations follow from the sample files), and no fc job."""
    config = read_yaml(TINY)
    side = config["data"]["patch_size"]
    changed = _with(config, "data.patch_size", {"sr": side // 2, "fc": side})
    per_task = {**config, "data": {**config["data"], "patch_size": {"sr": side, "fc": side}}}
    assert plan_changes(per_task, config) == frozenset()  # one side or one per task: same plan
    changes = plan_changes(changed, config)
    rules = {rule for rule, _ in changes}
    assert rules == {"train", "sample"}, changes
    tasks = {dict(wildcards).get("task") or dict(wildcards)["name"].split("/")[0]
             for _, wildcards in changes}  # fmt: skip
    assert tasks == {"sr", MULTITASK}, changes  # flex_mt learns sr too
    trained = sorted(dict(w)["model"] for rule, w in changes if rule == "train")
    assert trained == sorted(config["train"]["models"])


def test_every_config_key_reruns_exactly_the_jobs_that_read_it(tiny_results):
    """Keys that change the plan alike are one class; a real dry run decides each class."""
    config = read_yaml(TINY)
    classes: dict[frozenset, list[str]] = {}
    for key in sorted(KEYS):
        classes.setdefault(plan_changes(_edited(config, key), config), []).append(key)

    def check(index_members):
        index, members = index_members
        return members, dry_run(tiny_results, _edited(config, members[0]), f"key{index}.yaml")

    with ThreadPoolExecutor(max_workers=2) as pool:  # dry runs only read the results
        found = list(pool.map(check, enumerate(classes.values())))
    wrong = {key: {"expected": KEYS[key][1], "found": counts, "dry run of": members[0],
                   "reasons": REASONS[f"key{index}.yaml"][:3]}
             for index, (members, counts) in enumerate(found) for key in members
             if counts != KEYS[key][1]}  # fmt: skip
    assert not wrong, json.dumps(wrong, indent=1)
    assert len(classes) > 20  # the classes are real: most keys differ in what they change


def importing_rules(module: str) -> frozenset:
    """The rules whose entry module imports `module` (flex/x/y.py), directly or not."""
    path = (ROOT / "src" / module).resolve()
    return frozenset(rule for rule, entry in ENTRY_MODULES.items()
                     if path in {p.resolve() for p in sources.sources(entry).values()})  # fmt: skip


def test_every_module_edit_reruns_exactly_the_stages_that_import_it(cloned_study):
    """An edit reruns the rules whose code digest changes: modules imported by the same rules are
    one class; a real dry run of an edit decides each class, every module is held to the table."""
    config = read_yaml(TINY)
    classes: dict[frozenset, list[str]] = {}
    for module in module_files():
        classes.setdefault(importing_rules(module), []).append(module)
    wrong = {}
    for members in classes.values():
        edited = cloned_study / "src" / members[0]
        original = edited.read_text()
        edited.write_text(original + "\nEDITED_BY_THE_TEST = True\n")  # code, not a comment
        try:
            found = dry_run(cloned_study, config, "same.yaml")
        finally:
            edited.write_text(original)
        for module in members:
            if found != expected_for_module(module):
                wrong[module] = {"expected": expected_for_module(module), "found": found,
                                 "dry run of": members[0], "reasons": REASONS["same.yaml"][:3]}  # fmt: skip
    assert not wrong, json.dumps(wrong, indent=1)
    assert dry_run(cloned_study, config, "same.yaml") == {}  # undoing the edits undoes the rerun
